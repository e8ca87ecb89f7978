"""Local stand-ins for the services that cannot be reached from a development machine (APNs,
FCM, a browser's push service), each holding a client to that service's documented contract."""
