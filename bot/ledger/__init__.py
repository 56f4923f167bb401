"""The user-experience ledger: every ticket driven through registered → acted on → customer told → follow-up done."""
