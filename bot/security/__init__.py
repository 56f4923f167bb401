"""Who may see what: secrets, identity claims and tokens, one-time codes, locked servers, masked logs."""
