"""The audit log: who changed what, when, with before and after. Every domain records through here."""
