#!/bin/sh
# Entrypoint of the local Redis image (Debian bookworm's redis-server 7), shaped like the official
# redis image's: `redis-server ...` runs as the redis user in /data, and protected mode is off (the
# official image builds it off: Redis is reachable only on the compose network, never published).
set -e
if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then
	set -- redis-server "$@"
fi
if [ "$1" = redis-server ]; then
	shift
	set -- redis-server "$@" --protected-mode no
	if [ "$(id -u)" = 0 ]; then
		find . \! -user redis -exec chown redis:redis '{}' +
		exec setpriv --reuid=redis --regid=redis --init-groups "$@"
	fi
fi
exec "$@"
