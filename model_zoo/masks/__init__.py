"""Mask evaluation shared by every mask source: checked data folders, a grouped split, scores."""
