"""Customers' requests about their own data (PIPL art. 45 access/copy, art. 47 deletion).

* :mod:`bot.privacy.subject` finds a customer and everything that points at them (numbers, accounts,
  WeChat openids, conversation ids);
* :mod:`bot.privacy.recordings` is the one place that reaches their recordings;
* :mod:`bot.privacy.conversations` their conversations in Redis;
* :mod:`bot.privacy.kept_requests` their requests kept in Redis while the database was down;
* :mod:`bot.privacy.export` and :mod:`bot.privacy.erase` the two requests;
* :mod:`bot.privacy.audit` the record that a request was carried out (no personal data);
* :mod:`bot.privacy.retention` applies a shortened retention setting to data already stored.
"""
