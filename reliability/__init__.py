"""The fault suite: the product's real processes on a PostgreSQL and a Redis of the suite's own,
under faults (a killed worker, Redis away, PostgreSQL restarted, broken affiliate servers, a
burst of duplicates). `python -m reliability`; see __main__ for what it checks."""
