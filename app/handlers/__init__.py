"""Lambda entry points. Each one only translates an event into plain values and back."""
