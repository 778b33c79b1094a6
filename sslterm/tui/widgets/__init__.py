"""Reusable widgets of the dashboard: header and progress, loss chart, similarity matrix, worker log."""
