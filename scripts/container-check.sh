#!/usr/bin/env bash
# The Docker deployment (Dockerfile + docker-compose.yml), run on a real container engine: Debian's
# podman with its Docker-compatible API and Debian's docker-compose. For a Debian bookworm machine
# with root and no Docker daemon, and no image registry either (CI; tests/test_container.py):
#
#   1. installs podman, runc, netavark, debootstrap and docker-compose from Debian;
#   2. builds the base images locally from Debian packages: `debootstrap --variant=minbase`, then
#      Python 3.11 (stands in for python:3.11-slim-bookworm) and Redis 7 (for redis:7.2-alpine);
#   3. builds the storyfold image from the project's own Dockerfile;
#   4. runs the project's own docker-compose.yml, --scale worker=2, through `podman system service`,
#      and checks through the API port published on 127.0.0.1: the seeds fold into one story with
#      five sources; every health check reports healthy; the processes run as the non-root user;
#      nothing is downloaded at start; `docker-compose restart redis` mid-stream loses nothing;
#      `down` then `up` keeps the stories;
#   5. removes everything it started: the compose project's containers, network and volume, and
#      the podman API service (by its PID). The images stay in the cache (below) for the next run.
#
#   sudo scripts/container-check.sh            exit 0: every check passed; otherwise 1, with why
#
# Settings (environment):
#   STORYFOLD_CHECK_CACHE   podman's storage and the base images, reused by later runs
#                           (default /var/cache/storyfold-container-check; delete it to start over)
#   STORYFOLD_CHECK_MIRROR  the Debian mirror for debootstrap (default http://deb.debian.org/debian)
#   PIP_FIND_LINKS, PIP_CERT, PIP_EXTRA_INDEX_URL   this machine's pip settings, passed to the
#                           image build (PIP_FIND_LINKS / PIP_CERT as read-only build volumes)
# The recipe, step by step and without this script: docs/deploy.md.
set -Eeuo pipefail
shopt -s inherit_errexit

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HERE=$REPO/scripts/container
CACHE=${STORYFOLD_CHECK_CACHE:-/var/cache/storyfold-container-check}
MIRROR=${STORYFOLD_CHECK_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm
PROJECT=sfcheck$$
IMAGE=localhost/storyfold:container-check
T0=$EPOCHREALTIME
declare -A TIMES=()
PASSED=()

elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }
say() { printf '[container-check %7ss] %s\n' "$(elapsed "$T0")" "$*"; }
die() {
	say "FAILED: $*" >&2
	exit 1
}
pass() {
	PASSED+=("$1")
	say "PASS ${1}: ${*:2}"
}
# run a step, timed: step NAME CMD...
step() {
	local name=$1 started=$EPOCHREALTIME
	shift
	say "-- $name"
	"$@"
	TIMES[$name]=$(elapsed "$started")
	say "-- $name: ${TIMES[$name]}s"
}

[[ $(id -u) == 0 ]] || die "needs root (podman runs rootful here; apt-get installs it)"
command -v apt-get >/dev/null || die "needs a Debian machine (apt-get)"

# -- 1. Debian packages ------------------------------------------------------------------------
install_packages() {
	local pkg missing=()
	for pkg in podman runc conmon netavark aardvark-dns catatonit iptables debootstrap \
		debian-archive-keyring docker-compose python3; do
		dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed' || missing+=("$pkg")
	done
	if ((${#missing[@]})); then
		say "apt-get install ${missing[*]}"
		apt-get update -qq || die "apt-get update failed"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			"${missing[@]}" >/dev/null || die "apt-get install ${missing[*]} failed"
	fi
	say "$(podman --version), runc $(runc --version | awk 'NR == 1 {print $3}'), $(docker-compose version --short 2>/dev/null | sed 's/^/docker-compose /')"
}

# -- the engine: settings, storage in the cache, and a check that it runs anything --------------
WORK=$(mktemp -d /tmp/storyfold-container-check.XXXXXX)
SOCK=$WORK/podman.sock
SERVICE_PID=
TICKER_PID=
BUILD_CTRS=()
COMPOSE_STARTED=

configure_engine() {
	mkdir -p "$CACHE"
	# One run at a time per cache (two would build the same images side by side on the same
	# storage): a second run waits here for the first, up to 40 minutes.
	exec 9>"$CACHE/lock"
	if ! flock -n 9; then
		say "waiting for another container check on $CACHE to finish"
		flock -w 2400 9 || die "another container check has held $CACHE/lock for 40 minutes"
	fi
	# crun refuses this kind of machine's hybrid cgroups (v1 controllers + a v2 mount), and raising
	# rlimits is not permitted: runc, cgroupfs, and ulimits no higher than the hard limits here.
	cat >"$WORK/containers.conf" <<-EOF
		[containers]
		default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
		[engine]
		runtime = "runc"
		cgroup_manager = "cgroupfs"
	EOF
	# podman's own storage under the cache: the base images and build layers outlive this run,
	# and nothing here touches other podman users' storage.
	cat >"$WORK/storage.conf" <<-EOF
		[storage]
		driver = "overlay"
		graphroot = "$CACHE/storage"
		runroot = "$CACHE/run"
	EOF
	export CONTAINERS_CONF=$WORK/containers.conf CONTAINERS_STORAGE_CONF=$WORK/storage.conf
	# podman's state database records the settings it was made with; one made with others (an
	# older version of this script: no storage driver) makes every container exit wait 20 s. It
	# holds no images and, between runs, no containers: start it afresh when they changed.
	local made
	made=$(cat "$WORK/containers.conf" "$WORK/storage.conf" | sha256sum | cut -c1-16)
	if [[ -f $CACHE/storage/libpod/bolt_state.db && $(cat "$CACHE/engine-settings" 2>/dev/null) != "$made" ]]; then
		say "podman state in $CACHE made with other settings: starting it afresh (images kept)"
		rm -f "$CACHE/storage/libpod/bolt_state.db"
	fi
	echo "$made" >"$CACHE/engine-settings"
	local info
	info=$(podman info --format '{{.Host.OCIRuntime.Name}} {{.Host.CgroupsVersion}} {{.Store.GraphDriverName}} {{.Host.NetworkBackend}}' 2>"$WORK/podman-info.log") ||
		die "podman cannot start: $(tail -5 "$WORK/podman-info.log")"
	say "podman: runtime, cgroups, storage, network = $info"
}

engine_runs() {
	local out
	out=$(podman run --rm --network none "$1" true 2>&1) ||
		die "the engine cannot run a container (image $1): $out"
}

# -- 2. base images from Debian packages -------------------------------------------------------
have_image() { podman image exists "$1"; }

# inputs -> a short key: a cached image is reused only while its inputs are unchanged. The month
# is an input too, so the Debian bases pick up security updates at least monthly.
key() { printf '%s\n' "$@" "$(date +%Y-%m)" | sha256sum | cut -c1-12; }

DEBIAN_IMG=
PYTHON_IMG=
REDIS_IMG=

base_images() {
	local k
	k=$(key "$SUITE" minbase "$MIRROR" v1)
	DEBIAN_IMG=localhost/storyfold-check/debian:$SUITE-$k
	if have_image "$DEBIAN_IMG"; then
		say "cached: $DEBIAN_IMG"
	else
		local root=$WORK/rootfs
		say "debootstrap --variant=minbase $SUITE ($MIRROR)"
		debootstrap --variant=minbase "$SUITE" "$root" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 ||
			die "debootstrap failed: $(tail -5 "$WORK/debootstrap.log")"
		cat >"$root/etc/apt/sources.list" <<-EOF
			deb $MIRROR $SUITE main
			deb $MIRROR $SUITE-updates main
			deb http://deb.debian.org/debian-security $SUITE-security main
		EOF
		# No service starts from a package install inside an image.
		printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
		chmod 755 "$root/usr/sbin/policy-rc.d"
		rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
		tar -C "$root" -c . | podman import --quiet --change 'CMD ["bash"]' - "$DEBIAN_IMG" >/dev/null
		rm -rf "$root"
	fi
	engine_runs "$DEBIAN_IMG"

	k=$(key "$DEBIAN_IMG" python3 python3-venv python-is-python3 ca-certificates v1)
	PYTHON_IMG=localhost/storyfold-check/python:3.11-$SUITE-$k
	if have_image "$PYTHON_IMG"; then
		say "cached: $PYTHON_IMG"
	else
		debian_image "$PYTHON_IMG" "apt-get install -y -qq --no-install-recommends \
			python3 python3-venv python-is-python3 ca-certificates >/dev/null" \
			--change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]'
	fi
	podman run --rm "$PYTHON_IMG" python -c 'import sys, venv; assert sys.version_info[:2] == (3, 11), sys.version' ||
		die "$PYTHON_IMG has no Python 3.11"

	k=$(key "$DEBIAN_IMG" redis-server "$(sha256sum "$HERE/redis-entrypoint.sh")" v1)
	REDIS_IMG=localhost/storyfold-check/redis:7-$SUITE-$k
	if have_image "$REDIS_IMG"; then
		say "cached: $REDIS_IMG"
	else
		debian_image "$REDIS_IMG" "apt-get install -y -qq --no-install-recommends redis-server >/dev/null \
			&& install -m 755 /in/redis-entrypoint.sh /usr/local/bin/docker-entrypoint.sh \
			&& mkdir -p /data && chown redis:redis /data" \
			--volume "$HERE:/in:ro" \
			--change 'WORKDIR /data' --change 'VOLUME /data' --change 'EXPOSE 6379' \
			--change 'ENTRYPOINT ["docker-entrypoint.sh"]' --change 'CMD ["redis-server"]'
	fi
	local v
	v=$(podman run --rm "$REDIS_IMG" redis-server --version) || die "$REDIS_IMG: no redis-server"
	[[ $v == *" v=7."* ]] || die "$REDIS_IMG is not Redis 7: $v"
	say "images: $PYTHON_IMG, $REDIS_IMG (${v%% sha=*})"
	# Older cached bases (other inputs, or last month's) are dropped.
	podman images --format '{{.Repository}}:{{.Tag}}' | grep '^localhost/storyfold-check/' |
		grep -vxF -e "$DEBIAN_IMG" -e "$PYTHON_IMG" -e "$REDIS_IMG" | xargs -r podman rmi -f >/dev/null 2>&1 || true
}

# debian_image TAG 'SHELL STEPS' [podman run options...] [--change ...]: the Debian base, apt-get
# update, the steps, apt lists removed, committed as TAG with the --change lines.
debian_image() {
	local tag=$1 steps=$2 ctr=$PROJECT-build-$RANDOM
	shift 2
	local run_opts=() changes=()
	while (($#)); do
		if [[ $1 == --change ]]; then changes+=("$1" "$2"); else run_opts+=("$1" "$2"); fi
		shift 2
	done
	BUILD_CTRS+=("$ctr")
	say "building $tag"
	podman run --name "$ctr" "${run_opts[@]}" "$DEBIAN_IMG" sh -ec \
		"apt-get update -qq && $steps && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb" \
		>"$WORK/$ctr.log" 2>&1 || die "building $tag failed: $(tail -5 "$WORK/$ctr.log")"
	podman commit --quiet "${changes[@]}" "$ctr" "$tag" >/dev/null
	podman rm "$ctr" >/dev/null
}

# -- 3. the storyfold image, from the project's Dockerfile -------------------------------------
pip_setting() { # this machine's pip setting NAME (env PIP_NAME, else pip's config), or empty
	local env=PIP_${1^^}
	env=${env//-/_}
	if [[ -n ${!env:-} ]]; then
		printf '%s' "${!env}"
	elif command -v pip3 >/dev/null; then
		pip3 config get "global.$1" 2>/dev/null || true
	fi
}

build_storyfold() {
	local args=(--format docker --layers -f "$REPO/Dockerfile" -t "$IMAGE"
		--build-arg "PYTHON_IMAGE=$PYTHON_IMG")
	# requirements.lock pins torch==2.13.0+cpu, from PyTorch's CPU index by default. Where this
	# machine's pip finds that wheel in a folder instead, the build gets the folder as a volume.
	local links dir wheels=
	links=$(pip_setting find-links)
	for dir in $links; do
		dir=${dir#file://}
		if compgen -G "$dir/torch-2.13.0+cpu-cp311-*.whl" >/dev/null; then wheels=$dir; fi
	done
	if [[ -n $wheels ]]; then
		say "torch 2.13.0+cpu from $wheels (build volume)"
		# and no PyTorch index (unreachable here): only this machine's other non-file indexes
		local url extra=
		for url in $(pip_setting extra-index-url); do [[ $url == file:* ]] || extra+="$url "; done
		args+=(--volume "$wheels:/wheels:ro" --build-arg PIP_FIND_LINKS=/wheels
			--build-arg "PIP_EXTRA_INDEX_URL=${extra% }")
	elif [[ -n ${PIP_EXTRA_INDEX_URL:-} ]]; then
		args+=(--build-arg "PIP_EXTRA_INDEX_URL=$PIP_EXTRA_INDEX_URL")
	fi
	# A CA bundle pip is told to trust here (a TLS-inspecting proxy) is trusted by the build too.
	local cert
	cert=$(pip_setting cert)
	if [[ -n $cert && -f $cert ]]; then
		args+=(--volume "$cert:/run/storyfold-ca.crt:ro" --build-arg PIP_CERT=/run/storyfold-ca.crt)
	fi
	say "podman build ${args[*]} $REPO"
	podman build "${args[@]}" "$REPO" >"$WORK/build.log" 2>&1 ||
		die "podman build failed: $(grep -v '^\s*$' "$WORK/build.log" | tail -15)"
	local size
	size=$(podman image inspect --format '{{.Size}}' "$IMAGE")
	IMAGE_MB=$((size / 1000000))
	say "image $IMAGE: $IMAGE_MB MB (podman image inspect .Size, base $PYTHON_IMG included)"
	# Earlier builds' layers are dropped after a day; today's stay as the build cache.
	podman image prune -f --filter until=24h >/dev/null 2>&1 || true
}

# -- 4. the compose stack ----------------------------------------------------------------------
start_service() {
	podman system service --time=0 "unix://$SOCK" >"$WORK/podman-service.log" 2>&1 &
	SERVICE_PID=$!
	local i
	for i in $(seq 100); do
		[[ -S $SOCK ]] && break
		kill -0 "$SERVICE_PID" 2>/dev/null || die "podman system service exited: $(tail -5 "$WORK/podman-service.log")"
		sleep 0.1
	done
	[[ -S $SOCK ]] || die "podman system service made no socket in 10 s"
	export DOCKER_HOST=unix://$SOCK
	say "podman API service: PID $SERVICE_PID on $SOCK"
}

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# The project's own docker-compose.yml; the settings come from this run's env file (not a .env in
# the checkout), on the podman API service (DOCKER_HOST).
COMPOSE=(docker-compose --env-file "$WORK/compose.env" --project-directory "$REPO"
	-f "$REPO/docker-compose.yml" -p "$PROJECT")
export COMPOSE_HTTP_TIMEOUT=300
compose() { "${COMPOSE[@]}" "$@"; }

# podman runs health checks from systemd timers; without systemd (as here) nothing runs them, so
# this loop does what the timers would: `podman healthcheck run` (the container's own test,
# recorded in its health state) for each of the project's running containers, every 3 s.
start_health_ticker() {
	(
		while :; do
			for c in $(podman ps -q --filter "label=com.docker.compose.project=$PROJECT"); do
				podman healthcheck run "$c" >/dev/null 2>&1 || true
			done
			sleep 3
		done
	) &
	TICKER_PID=$!
}

ctrs() { podman ps -q --filter "label=com.docker.compose.project=$PROJECT" "$@"; }
ctr_name() { podman inspect --format '{{.Name}}' "$1"; }

wait_healthy() {
	local deadline=$((SECONDS + 300)) c state all
	while ((SECONDS < deadline)); do
		all=ok
		for c in $(ctrs); do
			state=$(podman inspect --format '{{.State.Health.Status}}' "$c")
			[[ $state == healthy ]] || all=
		done
		[[ $(ctrs | wc -l) == 4 && -n $all ]] && return 0
		sleep 1
	done
	for c in $(ctrs -a); do
		say "$(ctr_name "$c"): $(podman inspect --format '{{.State.Status}} {{.State.Health.Status}}' "$c")"
	done
	die "the stack did not become healthy in 300 s (4 containers: redis, api, 2 workers)"
}

check() { "${PYTHON:-python3}" "$HERE/stack_check.py" "$@" || die "stack check '$1' failed"; }

up_and_ready() { # the timed start: `up` until healthy and both workers have the model
	compose up -d --no-build --scale worker=2 2>&1 | sed 's/^/  compose: /'
	COMPOSE_STARTED=1
	wait_healthy
	check ready "$PORT" 2
}

checks_on_the_stack() {
	local c names
	names=$(for c in $(ctrs); do ctr_name "$c"; done | sort | tr '\n' ' ')
	say "running: $names"
	[[ $(ctrs --filter "label=com.docker.compose.service=worker" | wc -l) == 2 ]] ||
		die "--scale worker=2 did not start two workers: $names"
	pass healthy "every container's health check reports healthy: $names"

	# The processes inside run as the image's user (10001), the API's and the workers'.
	local bad=
	for c in $(ctrs --filter label=com.docker.compose.service=api) $(ctrs --filter label=com.docker.compose.service=worker); do
		local users uid
		users=$(podman top "$c" huser user args | tail -n +2)
		printf '%s\n' "$users" | sed "s/^/  $(ctr_name "$c"): /"
		awk '$1 != "10001" || $2 != "storyfold" { exit 1 }' <<<"$users" || bad+=" $(ctr_name "$c")"
		uid=$(podman exec "$c" id -u)
		[[ $uid == 10001 ]] || bad+=" $(ctr_name "$c")(exec uid $uid)"
	done
	[[ -z $bad ]] || die "processes not running as storyfold (10001) in:$bad"
	pass non-root "every process in the api and worker containers runs as storyfold (uid 10001)"

	# Nothing downloaded at start: offline switches set, the int8 model came from the image (no
	# worker exported one), and nothing written where a model or hub cache would go.
	for c in $(ctrs --filter label=com.docker.compose.service=worker); do
		local env changed
		env=$(podman exec "$c" printenv HF_HUB_OFFLINE TRANSFORMERS_OFFLINE STORYFOLD_MODEL_CACHE_DIR | tr '\n' ' ')
		[[ $env == "1 1 /opt/storyfold/models " ]] || die "$(ctr_name "$c"): offline settings are '$env'"
		if podman logs "$c" 2>&1 | grep -E '"event": ?"embed\.onnx_(exported|quantised)"'; then
			die "$(ctr_name "$c") exported the int8 model at start instead of using the image's"
		fi
		# What the container wrote: no model files, no hub or torch caches, nothing new in the
		# image's model folder but its lock file. (onnxruntime writes a device id under
		# ~/.cache/Microsoft; that is not a download, and is listed here.)
		changed=$(podman diff "$c" | awk '{print $2}')
		say "$(ctr_name "$c") wrote: $(tr '\n' ' ' <<<"$changed")"
		if grep -E 'huggingface|sentence_transformers|/\.cache/torch|\.(onnx|safetensors|bin|pt|pth)$' <<<"$changed" ||
			grep '^/opt/storyfold/models/' <<<"$changed" | grep -v '\.lock$'; then
			die "$(ctr_name "$c") wrote model or hub-cache files at start (above)"
		fi
	done
	# and the model loads in a container with no network at all
	podman run --rm --network none "$IMAGE" storyfold embed-check --repeat 1 --rounds 1 \
		>"$WORK/embed-check.log" 2>&1 || die "the model does not load without a network: $(tail -5 "$WORK/embed-check.log")"
	pass offline "HF_HUB_OFFLINE/TRANSFORMERS_OFFLINE set, workers used the image's int8 model and wrote no model or hub-cache file; embed-check passes with --network none"

	check seeds "$PORT" "$REPO/seeds" "$WORK/stories.json"
	pass seeds "the five seeds -> one story with five sources"

	check restart "$PORT" "$WORK/stories.json" -- "${COMPOSE[@]}" restart redis
	wait_healthy
	pass redis-restart "docker-compose restart redis mid-stream: every article processed, no story lost"

	# The archive volume: an article dated 100 days on makes every story so far quiet; a worker
	# moves them to the archive volume, and the API (another container) still answers for them.
	check future "$PORT" "$WORK/stories.json"
	local worker api files want deadline=$((SECONDS + 180))
	worker=$(ctrs --filter label=com.docker.compose.service=worker | sed -n 1p)
	api=$(ctrs --filter label=com.docker.compose.service=api)
	want=$(($(python3 -c 'import json, sys; print(len(json.load(open(sys.argv[1]))))' "$WORK/stories.json") - 1))
	while :; do
		# 0 moved when a worker's own minute pass holds the lease: then its pass moves them.
		say "$(ctr_name "$worker"): $(podman exec "$worker" storyfold archive 2>&1 | tail -1)"
		files=$(podman exec "$api" find /data/archive -name '*.json.gz' | wc -l)
		((files >= want)) && break
		((SECONDS < deadline)) || die "$files story files in the api container's /data/archive after 180 s, expected $want"
		sleep 5
	done
	check same "$PORT" "$WORK/stories.json"
	pass archive "$files quiet stories moved to the archive volume by a worker, read back by the api container"

	compose down 2>&1 | sed 's/^/  compose: /'
	[[ -z $(ctrs -a) ]] || die "containers left after down: $(ctrs -a)"
	local started=$EPOCHREALTIME
	up_and_ready
	TIMES[restart-up]=$(elapsed "$started")
	check same "$PORT" "$WORK/stories.json"
	pass down-up "docker-compose down, then up: the same stories (volume $(podman volume ls -q --filter "label=com.docker.compose.project=$PROJECT" | tr '\n' ' '))"
}

# -- 5. cleanup: everything this run started ---------------------------------------------------
cleanup() {
	local rc=$?
	set +e
	trap - EXIT INT TERM ERR
	if [[ -n $TICKER_PID ]]; then
		kill "$TICKER_PID" 2>/dev/null
		wait "$TICKER_PID" 2>/dev/null
	fi
	if [[ -n $COMPOSE_STARTED ]]; then
		if ((rc != 0)); then
			say "logs (last 30 lines per container):"
			compose logs --no-color --tail 30 2>&1 | sed 's/^/  /'
		fi
		compose down -v --remove-orphans --timeout 30 >"$WORK/down.log" 2>&1 ||
			say "compose down failed: $(tail -3 "$WORK/down.log")"
	fi
	if [[ -n ${CONTAINERS_CONF:-} ]]; then
		# What compose did not remove (it failed, or never ran), by the project's label.
		local ids
		ids=$(podman ps -aq --filter "label=com.docker.compose.project=$PROJECT")
		[[ -z $ids ]] || podman rm -f -t 5 $ids >/dev/null
		for ids in "${BUILD_CTRS[@]}"; do podman rm -f -t 0 "$ids" >/dev/null 2>&1; done
		podman volume ls -q --filter "label=com.docker.compose.project=$PROJECT" | xargs -r podman volume rm -f >/dev/null
		podman network ls -q --filter "label=com.docker.compose.project=$PROJECT" | xargs -r podman network rm -f >/dev/null
	fi
	if [[ -n $SERVICE_PID ]]; then
		kill "$SERVICE_PID" 2>/dev/null
		wait "$SERVICE_PID" 2>/dev/null
		say "stopped the podman API service (PID $SERVICE_PID)"
	fi
	if ((rc != 0)) && [[ -d $WORK ]]; then
		mkdir -p "$CACHE/failed-run"
		cp "$WORK"/*.log "$CACHE/failed-run/" 2>/dev/null
		say "logs of this run: $CACHE/failed-run/"
	fi
	rm -rf "$WORK"
	if [[ -n ${CONTAINERS_CONF:-} && -n $(podman ps -aq --filter "label=com.docker.compose.project=$PROJECT" 2>/dev/null) ]]; then
		say "FAILED: containers of $PROJECT are left over" >&2
		rc=1
	fi
	say "cleaned up; exit $rc"
	exit "$rc"
}
trap cleanup EXIT
trap 'say "FAILED: line $LINENO: $BASH_COMMAND (exit $?)" >&2' ERR
trap 'exit 130' INT TERM

main() {
	step packages install_packages
	configure_engine
	step base-images base_images
	step build step_build
	start_service
	start_health_ticker
	PORT=$(free_port)
	# HOT_DAYS 0.5: the archive check's article dated 100 days on counts as one day on (story
	# time believes a date at most a day past its arrival), which is then past every story's
	# quiet time; the checks before it run in minutes of story time, so nothing moves early.
	cat >"$WORK/compose.env" <<-EOF
		STORYFOLD_IMAGE=$IMAGE
		STORYFOLD_REDIS_IMAGE=$REDIS_IMG
		STORYFOLD_BIND=127.0.0.1
		STORYFOLD_HTTP_PORT=$PORT
		STORYFOLD_HOT_DAYS=0.5
	EOF
	say "compose project $PROJECT, API on 127.0.0.1:$PORT"
	step start up_and_ready
	checks_on_the_stack

	local want=(healthy non-root offline seeds redis-restart archive down-up)
	[[ ${PASSED[*]} == "${want[*]}" ]] || die "checks passed: ${PASSED[*]}; expected: ${want[*]}"
	say "summary: image $IMAGE_MB MB; build ${TIMES[build]}s (base images ${TIMES[base-images]}s);" \
		"start (up -> healthy, both workers with the model) ${TIMES[start]}s, again after down ${TIMES[restart-up]}s;" \
		"total $(elapsed "$T0")s on $(nproc) cores"
	say "ALL ${#PASSED[@]} CHECKS PASSED: ${PASSED[*]}"
}
step_build() { build_storyfold; }

# One line: bash has read the whole script before it runs (an edit while it runs cannot change it).
main "$@"; exit $?
