"""Realtime: the Pusher-protocol socket, the hub (channel -> sockets), the broker."""
