"""The response cache: what makes a request cacheable, identical requests in flight
sharing one answer, and serving answers from the cache actor's store."""
