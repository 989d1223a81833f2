"""Wire formats other than emutcp's own msgpack datagrams (``core/segment.py``).

``tcpip``: real TCP segments in IPv4/IPv6 packets, used by the pcap writer and
the TUN transport.  This layer sits on the core (it maps ``Segment``) and
below the shells; ``transport/`` never imports it.
"""
