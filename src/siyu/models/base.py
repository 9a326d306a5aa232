"""Re-export of the declarative base so every model imports from one place."""

from siyu.kit.orm import Base, IdMixin, TimestampMixin, WorkspaceScoped

__all__ = ["Base", "IdMixin", "TimestampMixin", "WorkspaceScoped"]
