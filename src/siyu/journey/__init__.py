"""Journeys and SOP automation (自动化 SOP): versioned graphs, templates, and (later) the engine."""
