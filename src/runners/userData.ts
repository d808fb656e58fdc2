import type { RunnerPool } from "../config/runners";
import { HostKey, hostPublicKey as hostPublicKeyOf } from "./hostKey";
import { SMOKE_TIMEOUT_SECONDS } from "./smokeChecks";

/**
 * The first-boot setup of a build runner (EC2 user data, run once by cloud-init as root) and
 * the idle stop it installs. Pure text: the BuildRunner component passes it to the instance,
 * and the tests parse it and run shellcheck on it. It holds one secret, the runner's ssh host
 * key, so the component passes it as a Pulumi secret.
 */

export interface UserDataParams {
    readonly pool: RunnerPool;
    /**
     * The instance type has an NVIDIA GPU, so the AMI is a Deep Learning Base GPU AMI: Docker
     * must use the NVIDIA runtime. Without, the AMI is plain Ubuntu and Docker is installed.
     */
    readonly nvidiaGpu: boolean;
    /** The account builds run as; created when the AMI does not have it. */
    readonly sshUser: string;
    /** One authorized_keys line, validated by the config schema. */
    readonly sshPublicKey: string;
    readonly idleStopMinutes: number;
    /** The host key the stack generated for this runner; sshd presents it from its first start. */
    readonly hostKey: HostKey;
}

export const IDLE_STOP_SCRIPT = "/usr/local/sbin/truss-idle-stop";
export const IDLE_STOP_UNIT = "truss-idle-stop";
export const SSHD_DROP_IN = "/etc/ssh/sshd_config.d/10-truss-builders.conf";
/** Where cloud-init writes the `ed25519_private` host key of `ssh_keys`. */
export const HOST_KEY_FILE = "/etc/ssh/ssh_host_ed25519_key";

/**
 * sshd limits for parallel builds: every build is an ssh session (multiplexed on one
 * connection by ControlMaster) and the defaults (MaxStartups 10:30:100, MaxSessions 10)
 * refuse the eleventh. The one host key is the stack's: no other key is offered.
 */
export const SSHD_SETTINGS = [
    "MaxStartups 200:30:400",
    "MaxSessions 200",
    "PasswordAuthentication no",
    `HostKey ${HOST_KEY_FILE}`,
] as const;

/**
 * The idle stop prunes, before it powers the runner off, images created and build cache last
 * used more than this many hours ago: a week keeps the layers of the last release's builds and
 * bounds the disk a runner that publishes every week fills. Images a container uses stay.
 */
export const PRUNE_AFTER_HOURS = 168;

/**
 * The idle stop: every minute, powers the runner off once it has had no work for
 * `idleStopMinutes`. Work is a container started less than SMOKE_TIMEOUT_SECONDS ago (a build
 * step or a smoke test), an established ssh connection (the Docker provider's, the readiness
 * gate's, an operator's) or cloud-init still running. An older container is not work: no smoke
 * test runs that long (its own timeout removes its container), and a build holds its ssh
 * connection for as long as it runs; a hung container must not keep a GPU runner up. Before
 * powering off it prunes images and build cache older than PRUNE_AFTER_HOURS. The instance's
 * shutdown behaviour is "stop", so this stops it and `pulumi up` starts it again when there
 * is something to build.
 */
export function idleStopScript(idleStopMinutes: number): string {
    return `#!/bin/sh
# Powers this truss-base-images build runner off after ${idleStopMinutes} minutes without work.
# Installed by the runner's user data (src/runners/userData.ts); run by ${IDLE_STOP_UNIT}.timer.
set -eu
IDLE_STOP_MINUTES=${idleStopMinutes}
# Containers running longer than the smoke test's timeout are hung, not work.
CONTAINER_WORK_SECONDS=${SMOKE_TIMEOUT_SECONDS}
PRUNE_AFTER_HOURS=${PRUNE_AFTER_HOURS}
STATE_DIR=/run/${IDLE_STOP_UNIT}
STAMP="$STATE_DIR/last-activity"

# /run is emptied at boot, so idle time counts from the last boot at the earliest.
mkdir -p "$STATE_DIR"
[ -e "$STAMP" ] || touch "$STAMP"

now=$(date +%s)
busy=""
for started in $(docker ps -q 2>/dev/null | xargs -r docker inspect --format '{{.State.StartedAt}}' 2>/dev/null || true); do
    # A start time that cannot be read counts as a young container: work.
    started_at=$(date -d "$started" +%s 2>/dev/null) || started_at=$now
    if [ $((now - started_at)) -lt "$CONTAINER_WORK_SECONDS" ]; then
        busy="$busy containers"
        break
    fi
done
if [ -n "$(ss -Htn state established '( sport = :22 )' 2>/dev/null || true)" ]; then busy="$busy ssh"; fi
if cloud-init status 2>/dev/null | grep -q "status: running"; then busy="$busy cloud-init"; fi

if [ -n "$busy" ]; then
    touch "$STAMP"
    exit 0
fi

idle_minutes=$(( (now - $(stat -c %Y "$STAMP")) / 60 ))
if [ "$idle_minutes" -ge "$IDLE_STOP_MINUTES" ]; then
    logger -t ${IDLE_STOP_UNIT} "no work for $idle_minutes minutes (limit $IDLE_STOP_MINUTES): pruning images and build cache older than $PRUNE_AFTER_HOURS h, then powering off"
    docker image prune --all --force --filter "until=\${PRUNE_AFTER_HOURS}h" >/dev/null 2>&1 || logger -t ${IDLE_STOP_UNIT} "docker image prune failed"
    docker builder prune --all --force --filter "until=\${PRUNE_AFTER_HOURS}h" >/dev/null 2>&1 || logger -t ${IDLE_STOP_UNIT} "docker builder prune failed"
    systemctl poweroff
fi
`;
}

/** The systemd service and timer that run the idle stop every minute. */
export function idleStopUnits(idleStopMinutes: number): { service: string; timer: string } {
    return {
        service: `[Unit]
Description=Power this build runner off after ${idleStopMinutes} minutes without work
After=docker.service

[Service]
Type=oneshot
ExecStart=${IDLE_STOP_SCRIPT}
`,
        timer: `[Unit]
Description=Check every minute whether this build runner has been idle for ${idleStopMinutes} minutes

[Timer]
OnBootSec=1min
OnUnitActiveSec=1min
AccuracySec=10s

[Install]
WantedBy=timers.target
`,
    };
}

function dockerSetup(pool: RunnerPool, nvidiaGpu: boolean): string {
    if (nvidiaGpu) {
        return `# --- Docker with the NVIDIA runtime: the Deep Learning Base GPU AMI ships Docker and the
# NVIDIA container toolkit; make sure Docker uses it and runs at boot.
command -v docker >/dev/null || { echo "no Docker on this AMI: use the AWS Deep Learning Base GPU AMI (builders.${pool}.ami)" >&2; exit 1; }
command -v nvidia-ctk >/dev/null || { echo "no nvidia-container-toolkit on this AMI: use the AWS Deep Learning Base GPU AMI (builders.${pool}.ami)" >&2; exit 1; }
nvidia-ctk runtime configure --runtime=docker
systemctl enable docker
systemctl restart docker`;
    }
    return `# --- Docker from Ubuntu's archive (the plain Ubuntu AMI has none).
if ! command -v docker >/dev/null 2>&1; then
    retry apt-get -o DPkg::Lock::Timeout=600 update
    retry apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends docker.io
fi
systemctl enable --now docker`;
}

/**
 * The cloud-config part of the user data: the runner's host key. cloud-init's ssh module writes
 * it, after deleting the image's keys, in its init stage, before sshd first starts: the runner
 * never presents another key, so the first connection can already require the pinned one.
 */
export function renderCloudConfig(hostKey: HostKey): string {
    const indented = hostKey.privateKey
        .trimEnd()
        .split("\n")
        .map((l) => `    ${l}`)
        .join("\n");
    return `#cloud-config
# truss-base-images build runner: the ssh host key the stack generated (a Pulumi secret).
ssh_deletekeys: true
ssh_keys:
  ed25519_private: |
${indented}
  ed25519_public: ${hostKey.publicKey.trim()}
`;
}

/** Separates the parts of the user data; no line of either part starts with it. */
export const USER_DATA_BOUNDARY = "==truss-base-images-user-data==";

/**
 * The user data of a runner of `pool`: a MIME multipart message that cloud-init reads, with the
 * host key (renderCloudConfig) and the setup script (renderSetupScript).
 */
export function renderUserData(p: UserDataParams): string {
    const part = (type: string, filename: string, body: string) =>
        [
            `--${USER_DATA_BOUNDARY}`,
            `Content-Type: ${type}; charset="us-ascii"`,
            "MIME-Version: 1.0",
            "Content-Transfer-Encoding: 7bit",
            `Content-Disposition: attachment; filename="${filename}"`,
            "",
            body.trimEnd(),
        ].join("\n");
    return [
        `Content-Type: multipart/mixed; boundary="${USER_DATA_BOUNDARY}"`,
        "MIME-Version: 1.0",
        "",
        part("text/cloud-config", "host-key.yaml", renderCloudConfig(p.hostKey)),
        part("text/x-shellscript", "setup.sh", renderSetupScript(p)),
        `--${USER_DATA_BOUNDARY}--`,
        "",
    ].join("\n");
}

/** The setup script of a runner of `pool`: a bash script cloud-init runs once, as root, after the host key is in place. */
export function renderSetupScript(p: UserDataParams): string {
    const units = idleStopUnits(p.idleStopMinutes);
    const gpuCheck = p.nvidiaGpu
        ? `
docker info --format '{{json .Runtimes}}' | grep -q '"nvidia"' || { echo "Docker has no nvidia runtime" >&2; exit 1; }`
        : "";
    return `#!/bin/bash
# truss-base-images build runner, ${p.pool} pool: first-boot setup, run once by cloud-init as root.
# Rendered by src/runners/userData.ts. It holds no secret: the host key is in the cloud-config part.
set -euxo pipefail
export DEBIAN_FRONTEND=noninteractive
SSH_USER=${p.sshUser}

# --- The host key the stack pinned: cloud-init installed it from the cloud-config part. Any other
# key means the connection from pulumi up would be refused: fail the setup here, visibly.
[ "$(cut -d' ' -f1,2 ${HOST_KEY_FILE}.pub)" = "${hostPublicKeyOf(p.hostKey.publicKey)}" ] || { echo "${HOST_KEY_FILE}.pub is not the host key the stack generated for this runner" >&2; exit 1; }

# Package mirrors and the network can be briefly unreachable at first boot (e.g. while the
# Elastic IP replaces the launch address): retry before failing the setup.
retry() {
    local attempt
    for attempt in 1 2 3 4 5 6 7 8 9; do
        if "$@"; then return 0; fi
        echo "attempt $attempt of '$*' failed; retrying in 15 s" >&2
        sleep 15
    done
    "$@"
}

# --- The operator's public key, for the account builds run as.
if ! id -u "$SSH_USER" >/dev/null 2>&1; then
    useradd --create-home --shell /bin/bash "$SSH_USER"
fi
home_dir=$(getent passwd "$SSH_USER" | cut -d: -f6)
mkdir -p "$home_dir/.ssh"
cat > "$home_dir/.ssh/authorized_keys" <<'TRUSS_EOF_KEY'
${p.sshPublicKey}
TRUSS_EOF_KEY
chown -R "$SSH_USER": "$home_dir/.ssh"
chmod 700 "$home_dir/.ssh"
chmod 600 "$home_dir/.ssh/authorized_keys"

# --- sshd: parallel builds each open an ssh session; the defaults refuse the eleventh. Only the stack's host key.
cat > ${SSHD_DROP_IN} <<'TRUSS_EOF_SSHD'
${SSHD_SETTINGS.join("\n")}
TRUSS_EOF_SSHD
sshd -t
systemctl reload ssh

${dockerSetup(p.pool, p.nvidiaGpu)}

# --- Builds run as $SSH_USER over ssh: give it the Docker socket, then wait for the daemon.
usermod -aG docker "$SSH_USER"
for _ in $(seq 1 60); do
    if docker info >/dev/null 2>&1; then break; fi
    sleep 2
done
docker info >/dev/null${gpuCheck}

# --- Stop (not terminate) after ${p.idleStopMinutes} idle minutes; pulumi up starts the runner again.
cat > ${IDLE_STOP_SCRIPT} <<'TRUSS_EOF_IDLE'
${idleStopScript(p.idleStopMinutes).trimEnd()}
TRUSS_EOF_IDLE
chmod 755 ${IDLE_STOP_SCRIPT}
cat > /etc/systemd/system/${IDLE_STOP_UNIT}.service <<'TRUSS_EOF_SERVICE'
${units.service.trimEnd()}
TRUSS_EOF_SERVICE
cat > /etc/systemd/system/${IDLE_STOP_UNIT}.timer <<'TRUSS_EOF_TIMER'
${units.timer.trimEnd()}
TRUSS_EOF_TIMER
systemctl daemon-reload
systemctl enable --now ${IDLE_STOP_UNIT}.timer

echo "truss-base-images ${p.pool} runner ready"
`;
}
