"""Users and technicians: who can log in, with which role, and the technicians' staff records."""
