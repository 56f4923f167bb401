"""Operations: structured logs, Prometheus metrics, health checks — what a person on call needs."""
