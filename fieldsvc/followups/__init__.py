"""V-ASK follow-ups: the office answers a customer's question the technician recorded on site."""
