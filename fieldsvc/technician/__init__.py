"""The technician's read API: my visits for a day and one visit's detail, never anyone else's."""
