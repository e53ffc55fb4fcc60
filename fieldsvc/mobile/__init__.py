"""The technician's phone: on-site facts, photos and signatures, recorded once each under E-CLOCK and E-IMAGE."""
