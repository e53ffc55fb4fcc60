"""A-VERDICT and A-REAUDIT: loading a visit's facts, running the audit engine, storing the verdict."""
