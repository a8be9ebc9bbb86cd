"""The audit log: every mutation's changes, who made them, before and after."""
