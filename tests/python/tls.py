"""confluent-kafka over SSL with a client certificate: produce, consume, check.

Arguments: bootstrap, CA file, client certificate file, client key file."""
import sys

from clients import round_trip

bootstrap, ca, cert, key = sys.argv[1:5]
tls = {"bootstrap.servers": bootstrap, "security.protocol": "SSL", "ssl.ca.location": ca,
       "ssl.certificate.location": cert, "ssl.key.location": key}
count = 500
round_trip(tls, "python-tls", count)
print(f"python tls ok: {count} records")
