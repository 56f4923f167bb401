"""One settings object built from the environment; nothing else reads ``os.environ``.

Every process (launcher, Rasa server, action server, CLI) builds the same
``Settings`` so they agree on ports, paths and backends.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlparse

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PUBLISHED_DEMO_PASSWORD = "kefu-demo"  # in the README: `make run`'s banner warns while it still works
MIN_PASSWORD_CHARS = 8  # an agent's desk password (bot/handoff/accounts.py)
# The waiting room finishes a step cut off after its queue script (a hand-back, "an agent joined", a transfer's events)
# 30 s after it (bot.handoff.handback.HANDBACK_GRACE_S), reading what it owes from the finished queue record: a record
# expired by then loses it (found in review: a booked callback's confirmation cut off, its ticket number never said).
# Twice the grace: the look comes at the next pass after it, and a pass may wait on the database.
QUEUE_RECORD_MIN_EXPIRY_S = 60


def _path(value: str | None, default: Path) -> Path:
    return Path(value).expanduser().resolve() if value else default


class SettingError(ValueError):
    """A setting's value Kefu cannot use: the message names the variable, the value and what it takes."""


def whole(env: dict, name: str, default: int, minimum: int | None = None, maximum: int | None = None) -> int:
    """``env[name]`` as a whole number (unset or empty: ``default``), or a SettingError naming it."""
    return _number(env, name, default, int, "a whole number", minimum, maximum)


def number(env: dict, name: str, default: float, minimum: float | None = None, above: float | None = None) -> float:
    """``env[name]`` as a number, e.g. ``2.5`` (unset or empty: ``default``), or a SettingError naming it."""
    value = _number(env, name, default, float, "a number", minimum, None)
    if above is not None and not value > above:
        raise SettingError(f"{name}={env.get(name)!r}: must be more than {above:g}")
    return value


def _number(env, name, default, kind, what, minimum, maximum):
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise SettingError(f"{name}={env.get(name)!r} is not {what}") from None
    if value != value or value in (float("inf"), float("-inf")):  # nan, inf
        raise SettingError(f"{name}={env.get(name)!r} is not {what}")
    if minimum is not None and value < minimum:
        raise SettingError(f"{name}={env.get(name)!r}: must be at least {minimum}")
    if maximum is not None and value > maximum:
        raise SettingError(f"{name}={env.get(name)!r}: must be at most {maximum}")
    return value


def port(env: dict, name: str, default: int) -> int:
    return whole(env, name, default, 1, 65535)


def queue_record_expiry(env: dict) -> int:
    """``KEFU_QUEUE_RECORD_EXPIRY_SECONDS``, at least ``QUEUE_RECORD_MIN_EXPIRY_S``, or a SettingError saying why."""
    name = "KEFU_QUEUE_RECORD_EXPIRY_SECONDS"
    value = whole(env, name, 7 * 24 * 3600, 1)
    if value < QUEUE_RECORD_MIN_EXPIRY_S:
        raise SettingError(f"{name}={env.get(name)!r}: must be at least {QUEUE_RECORD_MIN_EXPIRY_S} (seconds): the "
                           "waiting room finishes a step cut off short (a customer's hand-back, a booked callback's "
                           "confirmation) 30 s after it, from the finished queue record")
    return value


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_FORMATS = ("console", "json")


def choice(env: dict, name: str, choices: tuple[str, ...], default: str) -> str:
    """``env[name]`` as one of ``choices``, in any case (unset or empty: ``default``), or a SettingError naming them."""
    value = (env.get(name) or default).strip()
    found = {option.lower(): option for option in choices}.get(value.lower())
    if found is None:
        raise SettingError(f"{name}={env.get(name)!r} is not one of {', '.join(choices)}")
    return found


ON, OFF = ("on", "1", "true", "yes"), ("off", "0", "false", "no")


def _switch(env: dict, name: str, default: str = "auto") -> str:
    """``default`` unless set: on/1/true/yes -> ``on``, off/0/false/no -> ``off``, ``auto``; anything else
    (a typo read as the default, silently, loaded the demo customers for ``of``) is a SettingError."""
    value = (env.get(name) or default).strip().lower()
    if value in ON:
        return "on"
    if value in OFF:
        return "off"
    if value == "auto" and default == "auto":
        return "auto"
    choices = "on or off" + (" or auto" if default == "auto" else "")
    raise SettingError(f"{name}={env.get(name)!r} is not {choices}")


def public_url(env: dict, default: str) -> str:
    """``KEFU_PUBLIC_URL``: the links Kefu sends (media, telephony callbacks) start with it, so it needs its scheme."""
    url = (env.get("KEFU_PUBLIC_URL") or "").strip().rstrip("/")
    if not url:
        return default
    if not url.lower().startswith(("http://", "https://")) or len(url.split("://", 1)[1]) == 0:
        raise SettingError(f"KEFU_PUBLIC_URL={env.get('KEFU_PUBLIC_URL')!r} is not an http:// or https:// address "
                           f"(e.g. https://{url.split('://')[-1] or 'kefu.example.com'})")
    scheme, rest = url.split("://", 1)
    return f"{scheme.lower()}://{rest}"  # "HTTPS://…": the desk's cookie is still Secure, a carrier's stream wss://


def demo_agent_password(env: dict) -> str:
    """``KEFU_DEMO_AGENT_PASSWORD`` (unset: the published one), or a SettingError that does not show it: one the
    desk refuses would stop `kefu run` at the first start, after the database was prepared."""
    value = env.get("KEFU_DEMO_AGENT_PASSWORD") or PUBLISHED_DEMO_PASSWORD
    if len(value) < MIN_PASSWORD_CHARS:
        raise SettingError(f"KEFU_DEMO_AGENT_PASSWORD (not shown) has {len(value)} characters: an agent's password "
                           f"needs at least {MIN_PASSWORD_CHARS} characters")
    return value


def database_url(value: str | None, data_dir: Path) -> str:
    """``KEFU_DATABASE_URL``, SQLite in the data folder without it. The ``postgres://`` spelling that
    hosted PostgreSQL services hand out (Heroku and others) is read as ``postgresql://``: SQLAlchemy
    1.4+ no longer accepts it, and an operator pasting the URL they were given got a traceback."""
    if not value:
        return f"sqlite:///{data_dir / 'kefu.sqlite3'}"
    scheme, separator, rest = value.partition("://")
    if separator and (scheme == "postgres" or scheme.startswith("postgres+")):
        return "postgresql" + scheme[len("postgres"):] + separator + rest
    return value


def connect_to(bind_host: str) -> str:
    """The address a client on this machine uses for a server bound to ``bind_host`` (all addresses:
    loopback), bracketed when IPv6."""
    host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(bind_host, bind_host)
    return f"[{host}]" if ":" in host else host


REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


def redis_url(env: dict) -> str | None:
    """``REDIS_URL`` (None: the embedded Redis), or a SettingError when it is no Redis URL (``host:6379``)."""
    url = (env.get("REDIS_URL") or "").strip()
    if url and not url.lower().startswith(REDIS_SCHEMES):
        shown = url.split("@")[-1]  # never the password
        raise SettingError(f"REDIS_URL={shown!r} is not a Redis URL: it starts with {', '.join(REDIS_SCHEMES)} "
                           f"(e.g. redis://{shown.split('://')[-1]})")
    return url or None


def redis_parts(url: str) -> dict:
    """Host/port/db/password of a redis:// URL, as Rasa's endpoints.yml wants them."""
    parsed = urlparse(url)
    return {
        "host": parsed.hostname or "127.0.0.1",
        "port": parsed.port or 6379,
        "db": int((parsed.path or "/0").lstrip("/") or 0),
        "password": parsed.password or "",
    }


@dataclass(frozen=True)
class RedisSettings:
    """Where Redis lives; ``url`` is None when Kefu should start an embedded one."""

    url: str | None
    embedded_dir: Path
    # A command (or a connection attempt) that gets no answer in this time fails like a refused
    # connection: a hung or partitioned Redis costs a turn this long, then the apology (bot/redis_reconnect.py).
    timeout_s: float = 2.0
    embedded_port: int | None = None  # KEFU_REDIS_PORT; None: a free port chosen at each start



@dataclass(frozen=True)
class Settings:
    root: Path
    data_dir: Path
    database_url: str
    redis: RedisSettings
    rasa_port: int
    action_port: int
    host: str
    public_url: str
    models_dir: Path
    content_dir: Path
    media_dir: Path
    prompts_dir: Path
    vosk_model_path: Path | None
    tts_voice: str
    tts_rate: int
    tts_cache_dir: Path
    env: dict = field(default_factory=dict, repr=False, compare=False)
    # WeChat official account (bot/channels/wechat.py); empty token = channel not configured.
    wechat_token: str = field(default="", repr=False)
    wechat_app_id: str = ""
    wechat_app_secret: str = field(default="", repr=False)
    wechat_aes_key: str = field(default="", repr=False)
    wechat_api_base_url: str = "https://api.weixin.qq.com"
    wechat_use_recognition: bool = False
    # "module:Class" of the voice.asr.AsrEngine that transcribes WeChat voice messages.
    wechat_asr_engine: str = "voice.vosk_engine:VoskEngine"
    # Agent desk: the demo agent `kefu run` creates when no agent exists yet.
    demo_agent_name: str = "demo"
    demo_agent_password: str = field(default=PUBLISHED_DEMO_PASSWORD, repr=False)
    # Phone IVR (bot/channels/ivr.py, bot/ivr/): flow files, hotline-wide data, ASR engine.
    ivr_flows_dir: Path | None = None  # None: <root>/ivr_flows
    ivr_config_path: Path | None = None  # None: <content_dir>/ivr.yml
    # "module:Class" of the voice.asr.AsrEngine used on the phone (a factory, like WeChat's).
    ivr_asr_engine: str = "voice.vosk_engine:VoskEngine"
    # Outbound SMS gateway and WeChat template messages (bot/outbound/).
    sms_gateway_url: str = ""
    sms_gateway_key: str = field(default="", repr=False)
    sms_sender_id: str = "Kefu"
    wechat_template_id: str = ""
    # REST integrations' callback for messages outside a turn (bot/outbound/rest_callback.py).
    rest_callback_url: str = ""
    rest_callback_secret: str = field(default="", repr=False)
    # The operator's ticketing/dispatch system (bot/dispatch/): its bearer token for
    # POST /api/tickets/<id>/status (empty: the endpoint refuses everyone), and where ticket events go.
    dispatch_token: str = field(default="", repr=False)
    dispatch_events_url: str = ""
    dispatch_events_secret: str = field(default="", repr=False)
    # Security (bot/security/): empty secrets are generated once under <data_dir>/secrets/.
    rasa_token: str = field(default="", repr=False)  # Rasa HTTP API (?token=)
    action_secret: str = field(default="", repr=False)  # header Rasa sends to the action server
    channel_secret: str = field(default="", repr=False)  # signs identity claims of trusted channels
    jwt_secret: str = field(default="", repr=False)  # integrations sign customer tokens (HS256)
    ivr_trunk_token: str = field(default="", repr=False)  # telephony passes it as a customParameter
    action_host: str = "127.0.0.1"
    cors_origins: tuple = ()  # added to the origins of public_url and rasa_url
    otp_ttl_s: int = 300
    otp_max_attempts: int = 3
    otp_per_number_per_hour: int = 5
    otp_per_sender_per_hour: int = 3  # per conversation: fewer than per number, see bot.security.otp
    otp_per_hour: int = 500  # every conversation and number together (REST sender ids cost nothing)
    otp_per_phone_per_day: int = 10  # codes sent to one registered phone in any 24 hours (never told)
    phone_sms_per_number_per_hour: int = 5  # texts a phone call may have sent to one number (bot.ivr.sms_budget)
    phone_sms_per_call_per_hour: int = 3
    # streams nobody vouched for started from one client address in any minute (bot/channels/ivr.py); 0: off
    phone_unvouched_calls_per_address_per_minute: int = 20
    # and how many such calls one client address holds at once, every process together; 0: off
    phone_unvouched_calls_per_address: int = 2
    password_failures_per_day: int = 6  # wrong answers per customer, every conversation together
    desk_login_max_failures: int = 5
    desk_login_lockout_s: int = 900
    tracker_expiry_s: int = 30 * 24 * 3600
    # The web chat's Socket.IO heartbeat (bot/channels/webchat.py): the page counts its connection dead
    # after interval + timeout without a ping, the server after as long without a pong.
    webchat_ping_interval_s: float = 25.0
    webchat_ping_timeout_s: float = 20.0
    # The chat page warns this long before an idle conversation's session expires (domain/core.yml
    # session_config) and offers to stay (bot/session_keepalive.py).
    webchat_expiry_warning_s: float = 300.0
    # Per client address (an IPv6 client's /64), every worker and machine together; 0: no limit
    # (bot/channels/webchat_addresses.py, README "Channels").
    webchat_connections_per_address: int = 100
    webchat_sessions_per_address_per_minute: int = 60
    queue_record_expiry_s: int = 7 * 24 * 3600
    caller_clip_expiry_s: int = 7 * 24 * 3600  # a phone caller's untranscribed turns (bot/ivr/caller_clips.py)
    voice_message_expiry_s: int = 7 * 24 * 3600  # a voice message's recording, after its work item is done
    tts_cache_expiry_s: int = 24 * 3600  # spoken replies name customers' bills (voice/tts_cache.py)
    # Finished outbox rows (texts with their codes and numbers, ticket events) are deleted this long after
    # they were queued (bot/outbound/retention.py); 0 keeps them for ever.
    outbox_expiry_s: int = 30 * 24 * 3600
    aof_rewrite_s: int = 3600  # the embedded Redis compacts its append-only file (bot/embedded_redis.py)
    # Voice bridge (bot/ivr/bridge.py): the Twilio-format REST API that dials an agent into a call.
    telephony_api_url: str = "https://api.twilio.com"
    telephony_account_sid: str = ""
    telephony_auth_token: str = field(default="", repr=False)
    voice_bridge_to: str = ""  # the agent's phone: number or sip: URI, {agent_id} replaced
    telephony_from: str = ""  # Kefu's own number for automated calls (bot/contacts/); empty: no calls
    demo_carrier: str = "auto"  # auto | on | off: the built-in demo carrier (bot/contacts/carrier_account.py)
    # auto | on | off: the demo customers of content/demo/seed.yml; auto = only with the embedded SQLite
    # (see demo_data_wanted): a production database never gets customers whose passwords are published.
    demo_data: str = "auto"
    # An external Redis without persistence: kefu run refuses it unless this accepts the loss (bot/redis_persistence.py).
    allow_volatile_redis: bool = False
    # Operations (bot/observability/): log format, metrics access and the multi-process metrics folder.
    log_format: str = "console"  # "json" in production
    log_level: str = "INFO"
    # Each server's log file (var/logs/rasa.log ...) is rotated at this size; 0: never (bot/observability/log_files.py).
    log_max_bytes: int = 50 * 1024 * 1024
    log_backups: int = 5  # rotated files kept (rasa.log.1 ... .5), the oldest dropped
    metrics_token: str = field(default="", repr=False)  # empty: /metrics answers loopback clients only
    rest_token: str = field(default="", repr=False)  # empty: the REST channel answers loopback clients only
    metrics_dir: Path | None = None  # PROMETHEUS_MULTIPROC_DIR shared by every Kefu process on the host
    # /health is degraded when the data folder has less free (bot/observability/disk_space.py).
    data_dir_min_free_mb: int = 500

    @property
    def rasa_url(self) -> str:
        return f"http://{connect_to(self.host)}:{self.rasa_port}"

    @property
    def action_url(self) -> str:
        """Where Rasa calls the action server: at ``KEFU_ACTION_HOST``, where it listens (``KEFU_HOST`` is
        the Rasa server's address, e.g. this machine's behind nginx, where no action server listens)."""
        return f"{self.action_base_url}/webhook"

    @property
    def action_base_url(self) -> str:
        return f"http://{connect_to(self.action_host)}:{self.action_port}"

    @property
    def selfhelp_catalogue(self) -> Path:
        return self.content_dir / "selfhelp.yml"

    @property
    def demo_seed_file(self) -> Path:
        return self.content_dir / "demo" / "seed.yml"

    @property
    def demo_data_wanted(self) -> bool:
        """Load the demo customers? ``KEFU_DEMO_DATA`` on/off, else only for an SQLite database (the
        embedded single-machine setup, where trying Kefu out needs them); never on its own for an
        external database such as PostgreSQL, which is a production one."""
        if self.demo_data != "auto":
            return self.demo_data == "on"
        return self.database_url.startswith("sqlite")


def from_environment(environ: dict | None = None) -> Settings:
    """Build settings from ``environ`` (defaults to the process environment)."""
    env = dict(os.environ if environ is None else environ)
    root = _path(env.get("KEFU_ROOT"), PROJECT_ROOT)
    data_dir = _path(env.get("KEFU_DATA_DIR"), root / "var")
    if data_dir.exists() and not data_dir.is_dir():  # every command made its folders there: a traceback
        raise SettingError(f"KEFU_DATA_DIR={str(data_dir)!r} is not a folder (Kefu keeps its data, logs and "
                           "recordings in it)")
    rasa_port = port(env, "KEFU_RASA_PORT", 5005)
    host = env.get("KEFU_HOST", "127.0.0.1")
    model_path = env.get("VOSK_MODEL_PATH")
    return Settings(
        root=root,
        data_dir=data_dir,
        database_url=database_url(env.get("KEFU_DATABASE_URL"), data_dir),
        redis=RedisSettings(url=redis_url(env), embedded_dir=data_dir / "redis",
                            timeout_s=number(env, "KEFU_REDIS_TIMEOUT_SECONDS", 2.0, above=0),
                            embedded_port=whole(env, "KEFU_REDIS_PORT", 0, 0, 65535) or None),
        rasa_port=rasa_port,
        action_port=port(env, "KEFU_ACTION_PORT", 5055),
        host=host,
        public_url=public_url(env, f"http://{connect_to(host)}:{rasa_port}"),
        models_dir=_path(env.get("KEFU_MODELS_DIR"), root / "models"),
        content_dir=_path(env.get("KEFU_CONTENT_DIR"), root / "content"),
        media_dir=_path(env.get("KEFU_MEDIA_DIR"), root / "media"),
        prompts_dir=_path(env.get("KEFU_PROMPTS_DIR"), root / "prompts"),
        vosk_model_path=Path(model_path).expanduser() if model_path else None,
        tts_voice=env.get("KEFU_TTS_VOICE", "sit/cmn-Latn-pinyin"),
        tts_rate=whole(env, "KEFU_TTS_RATE", 170, 1),
        tts_cache_dir=_path(env.get("KEFU_TTS_CACHE_DIR"), data_dir / "tts-cache"),
        env=env,
        wechat_token=env.get("WECHAT_TOKEN", ""),
        wechat_app_id=env.get("WECHAT_APP_ID", ""),
        wechat_app_secret=env.get("WECHAT_APP_SECRET", ""),
        wechat_aes_key=env.get("WECHAT_AES_KEY", ""),
        wechat_api_base_url=(env.get("WECHAT_API_BASE_URL") or "https://api.weixin.qq.com").rstrip("/"),
        wechat_use_recognition=_switch(env, "WECHAT_USE_RECOGNITION", "off") == "on",
        wechat_asr_engine=env.get("WECHAT_ASR_ENGINE") or "voice.vosk_engine:VoskEngine",
        demo_agent_name=env.get("KEFU_DEMO_AGENT") or "demo",
        demo_agent_password=demo_agent_password(env),
        ivr_flows_dir=_path(env.get("KEFU_IVR_FLOWS_DIR"), root / "ivr_flows"),
        ivr_config_path=_path(env.get("KEFU_IVR_CONFIG"), _path(env.get("KEFU_CONTENT_DIR"), root / "content") / "ivr.yml"),
        ivr_asr_engine=env.get("KEFU_IVR_ASR_ENGINE") or "voice.vosk_engine:VoskEngine",
        sms_gateway_url=(env.get("KEFU_SMS_GATEWAY_URL") or "").rstrip("/"),
        sms_gateway_key=env.get("KEFU_SMS_GATEWAY_KEY", ""),
        sms_sender_id=env.get("KEFU_SMS_SENDER_ID") or "Kefu",
        wechat_template_id=env.get("WECHAT_TEMPLATE_ID", ""),
        rest_callback_url=env.get("KEFU_REST_CALLBACK_URL", ""),
        rest_callback_secret=env.get("KEFU_REST_CALLBACK_SECRET", ""),
        dispatch_token=env.get("KEFU_DISPATCH_TOKEN", ""),
        dispatch_events_url=env.get("KEFU_DISPATCH_EVENTS_URL", ""),
        dispatch_events_secret=env.get("KEFU_DISPATCH_EVENTS_SECRET", ""),
        rasa_token=env.get("KEFU_RASA_TOKEN", ""),
        action_secret=env.get("KEFU_ACTION_SECRET", ""),
        channel_secret=env.get("KEFU_CHANNEL_SECRET", ""),
        jwt_secret=env.get("KEFU_JWT_SECRET", ""),
        ivr_trunk_token=env.get("KEFU_IVR_TRUNK_TOKEN", ""),
        action_host=env.get("KEFU_ACTION_HOST") or "127.0.0.1",
        cors_origins=tuple(o for o in (env.get("KEFU_CORS_ORIGINS") or "").split() if o),
        otp_ttl_s=whole(env, "KEFU_OTP_TTL_SECONDS", 300, 1),
        otp_max_attempts=whole(env, "KEFU_OTP_MAX_ATTEMPTS", 3, 1),
        otp_per_number_per_hour=whole(env, "KEFU_OTP_PER_NUMBER_PER_HOUR", 5, 0),
        otp_per_sender_per_hour=whole(env, "KEFU_OTP_PER_SENDER_PER_HOUR", 3, 0),
        otp_per_hour=whole(env, "KEFU_OTP_PER_HOUR", 500, 0),
        otp_per_phone_per_day=whole(env, "KEFU_OTP_PER_PHONE_PER_DAY", 10, 0),
        phone_sms_per_number_per_hour=whole(env, "KEFU_PHONE_SMS_PER_NUMBER_PER_HOUR", 5, 0),
        phone_sms_per_call_per_hour=whole(env, "KEFU_PHONE_SMS_PER_CALL_PER_HOUR", 3, 0),
        phone_unvouched_calls_per_address_per_minute=whole(env, "KEFU_PHONE_UNVOUCHED_CALLS_PER_ADDRESS_PER_MINUTE",
                                                           20, 0),
        phone_unvouched_calls_per_address=whole(env, "KEFU_PHONE_UNVOUCHED_CALLS_PER_ADDRESS", 2, 0),
        password_failures_per_day=whole(env, "KEFU_PASSWORD_FAILURES_PER_DAY", 6, 0),
        desk_login_max_failures=whole(env, "KEFU_DESK_LOGIN_MAX_FAILURES", 5, 1),
        desk_login_lockout_s=whole(env, "KEFU_DESK_LOGIN_LOCKOUT_SECONDS", 900, 1),
        tracker_expiry_s=whole(env, "KEFU_TRACKER_EXPIRY_SECONDS", 30 * 24 * 3600, 1),
        webchat_ping_interval_s=number(env, "KEFU_WEBCHAT_PING_INTERVAL_S", 25.0, above=0),
        webchat_ping_timeout_s=number(env, "KEFU_WEBCHAT_PING_TIMEOUT_S", 20.0, above=0),
        webchat_expiry_warning_s=number(env, "KEFU_WEBCHAT_EXPIRY_WARNING_S", 300.0, 0),
        webchat_connections_per_address=whole(env, "KEFU_WEBCHAT_CONNECTIONS_PER_ADDRESS", 100, 0),
        webchat_sessions_per_address_per_minute=whole(env, "KEFU_WEBCHAT_SESSIONS_PER_ADDRESS_PER_MINUTE", 60, 0),
        queue_record_expiry_s=queue_record_expiry(env),
        caller_clip_expiry_s=whole(env, "KEFU_CALLER_CLIP_EXPIRY_SECONDS", 7 * 24 * 3600, 1),
        voice_message_expiry_s=whole(env, "KEFU_VOICE_MESSAGE_EXPIRY_SECONDS", 7 * 24 * 3600, 1),
        tts_cache_expiry_s=whole(env, "KEFU_TTS_CACHE_EXPIRY_SECONDS", 24 * 3600, 1),
        outbox_expiry_s=whole(env, "KEFU_OUTBOX_EXPIRY_SECONDS", 30 * 24 * 3600, 0),
        aof_rewrite_s=whole(env, "KEFU_AOF_REWRITE_SECONDS", 3600, 0),
        telephony_api_url=(env.get("KEFU_TELEPHONY_API_URL") or "https://api.twilio.com").rstrip("/"),
        telephony_account_sid=env.get("KEFU_TELEPHONY_ACCOUNT_SID", ""),
        telephony_auth_token=env.get("KEFU_TELEPHONY_AUTH_TOKEN", ""),
        voice_bridge_to=env.get("KEFU_VOICE_BRIDGE_TO", ""),
        telephony_from=env.get("KEFU_TELEPHONY_FROM", ""),
        demo_carrier=_switch(env, "KEFU_DEMO_CARRIER"),
        demo_data=_switch(env, "KEFU_DEMO_DATA"),
        allow_volatile_redis=_switch(env, "KEFU_ALLOW_VOLATILE_REDIS", "off") == "on",
        log_format=choice(env, "KEFU_LOG_FORMAT", LOG_FORMATS, "console"),
        log_level=choice(env, "KEFU_LOG_LEVEL", LOG_LEVELS, "INFO"),
        log_max_bytes=int(number(env, "KEFU_LOG_MAX_MB", 50, 0) * 1024 * 1024),
        log_backups=max(1, whole(env, "KEFU_LOG_BACKUPS", 5, 0)),
        metrics_token=env.get("KEFU_METRICS_TOKEN", ""),
        rest_token=env.get("KEFU_REST_TOKEN", ""),
        metrics_dir=_path(env.get("PROMETHEUS_MULTIPROC_DIR"), data_dir / "metrics"),
        data_dir_min_free_mb=whole(env, "KEFU_DATA_DIR_MIN_FREE_MB", 500, 0),
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Process-wide settings, read once."""
    return from_environment()
