//! A real Apache httpd (Debian's `/usr/sbin/apache2`) in front of the test
//! server, with a virtual host written by `parley config apache`: [`Apache`]
//! writes a minimal httpd.conf into a temporary ServerRoot of its own (pid
//! file, logs and runtime files all there), checks it with `apache2 -t`,
//! runs httpd in the foreground as one process (`-X`, so a kill leaves no
//! children behind) on a free loopback port, waits until it accepts
//! connections, and kills it on drop. Run as root, httpd serves as
//! `www-data`, which only reads what root opened for it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use super::browser::artifacts_dir;

const APACHE: &str = "/usr/sbin/apache2";
const MODULES: &str = "/usr/lib/apache2/modules";

/// What the virtual host needs, and the event MPM to run it.
const LOADED: [(&str, &str); 8] = [
    ("mpm_event_module", "mod_mpm_event.so"),
    ("authz_core_module", "mod_authz_core.so"),
    ("authz_host_module", "mod_authz_host.so"),
    ("alias_module", "mod_alias.so"),
    ("headers_module", "mod_headers.so"),
    ("proxy_module", "mod_proxy.so"),
    ("proxy_http_module", "mod_proxy_http.so"),
    ("proxy_wstunnel_module", "mod_proxy_wstunnel.so"),
];

/// A running httpd, killed on drop.
pub struct Apache {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Apache {
    /// Runs httpd on a free port with `site` (a virtual host for port 80,
    /// moved to that port), after `apache2 -t` has accepted it.
    pub async fn start(site: &str) -> Apache {
        assert!(
            Path::new(APACHE).exists(),
            "{APACHE} is missing: run scripts/test, which installs apache2, or install it yourself"
        );
        let port = super::free_port();
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir = std::env::temp_dir().join(format!(
            "parley-apache-{}-{port}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).expect("create the ServerRoot");
        let site = site.replace("<VirtualHost *:80>", &format!("<VirtualHost *:{port}>"));
        std::fs::write(dir.join("parley.conf"), site).expect("write the site");
        let conf = dir.join("httpd.conf");
        std::fs::write(&conf, httpd_conf(&dir, port)).expect("write httpd.conf");
        let check = Command::new(APACHE)
            .arg("-t")
            .arg("-f")
            .arg(&conf)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {APACHE}: {e}"));
        assert!(
            check.status.success(),
            "apache2 -t refused the configuration:\n{}",
            String::from_utf8_lossy(&check.stderr)
        );
        let stderr = std::fs::File::create(dir.join("stderr.log")).expect("create stderr.log");
        let child = Command::new(APACHE)
            .arg("-X")
            .arg("-f")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {APACHE}: {e}"));
        let mut apache = Apache { child, port, dir };
        apache.wait_ready().await;
        apache
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The port httpd listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Waits until it listens, with its logs if it exits first.
    async fn wait_ready(&mut self) {
        super::daemon::wait_listening("apache2", &mut self.child, self.port, &self.dir).await;
    }

    fn logs(&self) -> String {
        super::daemon::logs(&self.dir)
    }
}

impl Drop for Apache {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let kept = artifacts_dir().join(format!("apache-{}-error.log", self.port));
            let _ = std::fs::write(kept, self.logs());
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The smallest httpd.conf around the site: its modules, one loopback
/// port, everything under `dir`.
fn httpd_conf(dir: &Path, port: u16) -> String {
    let dir = dir.display();
    let modules: String = LOADED
        .iter()
        .map(|(name, file)| format!("LoadModule {name} {MODULES}/{file}\n"))
        .collect();
    let user = if std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
    {
        "User www-data\nGroup www-data\n"
    } else {
        ""
    };
    format!(
        "ServerRoot \"{dir}\"\n\
         DefaultRuntimeDir \"{dir}\"\n\
         PidFile \"{dir}/httpd.pid\"\n\
         ErrorLog \"{dir}/error.log\"\n\
         LogLevel warn\n\
         Listen 127.0.0.1:{port}\n\
         ServerName 127.0.0.1\n\
         {user}{modules}\
         Include \"{dir}/parley.conf\"\n"
    )
}
