"""The tenant directory, shared by every role: who the tenants are, and which keys act for them.

`directory` holds the state and answers "who is this key?" (pure, no I/O); `kafka_log` follows the
compacted directory topic into that state and writes new records to it.
"""
