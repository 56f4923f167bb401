"""Load the demo data set (``content/demo/seed.yml``) into an empty database."""
from __future__ import annotations

from pathlib import Path

from bot.db.repository import Repository
from bot.db.schema import bills, customer_credentials, customers, plans, usage
from bot.handoff.accounts import hash_password
from bot.yaml_load import safe_load


def cents(yuan) -> int:
    """The seed file writes yuan as people do (79, 23.50); the database keeps cents."""
    return round(float(yuan) * 100)


def usage_row(month: dict) -> dict:
    """The seed file writes data in GB as people say it; the database keeps MB."""
    def mb(gb):
        return None if gb is None else round(float(gb) * 1024)
    return {"period": str(month["period"]), "data_used_mb": mb(month["data_used_gb"]),
            "data_quota_mb": mb(month.get("data_quota_gb")), "minutes_used": month.get("minutes_used"),
            "minutes_quota": month.get("minutes_quota")}


def demo_phones(seed_file: Path) -> frozenset[str]:
    """The demo customers' phone numbers: a deployment without demo data never contacts them
    (they have real-format numbers; with a telephony account an automated call would ring a stranger)."""
    data = safe_load(seed_file.read_text(encoding="utf-8"))
    return frozenset(str(entry["phone"]) for entry in data.get("customers", []) if entry.get("phone"))


def prepare_database(repo: Repository, settings) -> bool:
    """The schema, plus the demo data when this deployment wants it (``Settings.demo_data_wanted``).

    Returns True when demo data was loaded now."""
    if settings.demo_data_wanted:
        return seed_demo(repo, settings.demo_seed_file)
    repo.create_schema()
    return False


def seed_demo(repo: Repository, seed_file: Path) -> bool:
    """Create the schema and load the demo data if no customer exists yet.

    Returns True when data was loaded.
    """
    repo.create_schema()
    if not repo.is_empty():
        return False
    data = safe_load(seed_file.read_text(encoding="utf-8"))
    with repo.engine.begin() as conn:
        for plan in data["plans"]:
            fee = cents(plan.pop("monthly_fee"))
            conn.execute(plans.insert().values(**plan, monthly_fee_cents=fee))
        for entry in data["customers"]:
            entry = dict(entry)
            customer_bills = entry.pop("bills", [])
            service_password = entry.pop("service_password", None)
            customer_usage = entry.pop("usage", [])
            entry["phone"], entry["account_number"] = str(entry["phone"]), str(entry["account_number"])
            entry["balance_cents"] = cents(entry.pop("balance", 0))
            customer_id = conn.execute(customers.insert().values(**entry)).inserted_primary_key[0]
            if service_password:
                conn.execute(customer_credentials.insert().values(
                    customer_id=customer_id, service_password_hash=hash_password(str(service_password))))
            for bill in customer_bills:
                amount = cents(bill.pop("amount"))
                conn.execute(bills.insert().values(customer_id=customer_id, amount_cents=amount, **bill))
            for month in customer_usage:
                conn.execute(usage.insert().values(customer_id=customer_id, **usage_row(month)))
    return True
