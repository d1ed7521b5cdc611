//! `parley config systemd`: a systemd unit that runs Parley with the
//! settings given, on loopback behind a proxy on the same machine, as a
//! throwaway user, stopped the way Parley stops gracefully, its rooms kept
//! in the state directory systemd gives it.

use super::{Deployment, Setting};
use crate::server::SHUTDOWN_TIMEOUT_SECS;

/// One `Environment=` line; systemd expands `%` specifiers, so `%` is
/// doubled, and a value with spaces or quotes is quoted whole.
fn environment(setting: &Setting) -> String {
    let assignment = format!("{}={}", setting.env, setting.value.replace('%', "%%"));
    if assignment.contains([' ', '"', '\\', '\'']) {
        let escaped = assignment.replace('\\', "\\\\").replace('"', "\\\"");
        format!("Environment=\"{escaped}\"\n")
    } else {
        format!("Environment={assignment}\n")
    }
}

/// The unit, as text.
pub(crate) fn render(d: &Deployment) -> String {
    let mut env = String::new();
    for setting in d.server_settings(true, "127.0.0.1") {
        if setting.env == "REDIS_URL" && setting.value.contains('@') {
            env.push_str(
                "# Unit files are world-readable: keep this password in an\n\
                 # EnvironmentFile= only root can read instead.\n",
            );
        }
        env.push_str(&environment(&setting));
    }
    let files = match d.data_dir() {
        None => "# A throwaway system user; Parley writes no files.\nDynamicUser=yes\n".to_owned(),
        // The default ./parley-data would be under / for a unit: systemd
        // makes /var/lib/parley for the throwaway user and keeps it.
        Some((_, false)) => {
            "# A throwaway system user; the rooms are kept in /var/lib/parley, which\n\
             # systemd creates for it and keeps across restarts.\n\
             DynamicUser=yes\n\
             StateDirectory=parley\n\
             Environment=PARLEY_DATA_DIR=/var/lib/parley\n"
                .to_owned()
        }
        Some((dir, true)) => format!(
            "# A throwaway system user; the rooms are kept in the data directory,\n\
             # which it must be able to write.\n\
             DynamicUser=yes\n\
             ReadWritePaths={}\n",
            dir.display()
        ),
    };
    let stop = SHUTDOWN_TIMEOUT_SECS;
    let grace = stop + 7;
    format!(
        "# /etc/systemd/system/parley.service, written by `parley config systemd`
# for the server flags given. Then: systemctl daemon-reload &&
# systemctl enable --now parley; journalctl -u parley -f for the log.
[Unit]
Description=Parley chat server
Wants=network-online.target
After=network-online.target

[Service]
ExecStart=/usr/local/bin/parley
{files}# Loopback only, behind a proxy on this machine (`parley config nginx` or
# `parley config apache` with the same flags), which is the one trusted
# with X-Forwarded-For.
{env}Environment=RUST_LOG=info
# Parley closes WebSockets with 1001 and exits within {stop} s of SIGTERM;
# {grace} s leaves room before systemd resorts to SIGKILL.
KillSignal=SIGTERM
TimeoutStopSec={grace}
Restart=on-failure
RestartSec=2
# Each WebSocket is a file descriptor.
LimitNOFILE=65536
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes

[Install]
WantedBy=multi-user.target
"
    )
}

#[cfg(test)]
mod tests {
    use super::super::{Deployment, Site};
    use super::*;
    use crate::config::Config;

    #[test]
    fn the_unit_runs_parley_on_loopback_with_the_flags_given() {
        let config =
            Config::parse_args(["parley", "--port", "3000", "--base-path", "/chat"]).unwrap();
        let given = [Setting {
            flag: "base-path".into(),
            env: "PARLEY_BASE_PATH".into(),
            value: "/chat".into(),
        }];
        let text = render(&Deployment::new(&config, &given, Site::of(&config)));
        for line in [
            "Environment=PORT=3000\n",
            "Environment=PARLEY_BIND=127.0.0.1\n",
            "Environment=PARLEY_TRUSTED_PROXIES=127.0.0.1\n",
            "Environment=PARLEY_BASE_PATH=/chat\n",
            "TimeoutStopSec=10\n",
            "StateDirectory=parley\n",
            "Environment=PARLEY_DATA_DIR=/var/lib/parley\n",
        ] {
            assert!(text.contains(line), "{line} missing from:\n{text}");
        }
    }

    #[test]
    fn values_are_escaped_for_systemd() {
        let odd = Setting {
            flag: "redis-prefix".into(),
            env: "PARLEY_REDIS_PREFIX".into(),
            value: "a b%\"".into(),
        };
        assert_eq!(
            environment(&odd),
            "Environment=\"PARLEY_REDIS_PREFIX=a b%%\\\"\"\n"
        );
    }
}
