"""Campaigns: drafts, launch, lifecycle (pause, resume) and the report."""
