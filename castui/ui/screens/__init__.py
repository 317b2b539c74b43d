"""Screens shown over the console."""
