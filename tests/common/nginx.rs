//! A real nginx (the Debian package's `/usr/sbin/nginx`) as a reverse proxy
//! in front of the test server: [`Nginx`] writes a config into a temporary
//! prefix directory of its own, runs nginx as a non-daemon child process on
//! a free port, waits until it accepts connections, and kills it on drop.
//! It touches nothing outside its directory (pid file, logs and temp paths
//! all live there), so tests can run side by side.
//! [`Nginx::start_balancing`] runs it instead as a round-robin load
//! balancer in front of several servers, logging which one served what.
//! [`Nginx::start_site`] runs it with a site written by `parley config
//! nginx`, after `nginx -t` has accepted it.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use super::browser::artifacts_dir;

const NGINX: &str = "/usr/sbin/nginx";

/// What nginx does with a WebSocket upgrade.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upgrades {
    /// Passes `Upgrade` and `Connection` on: WebSocket works.
    Pass,
    /// Strips them, as a proxy never told about WebSocket does: the upgrade
    /// reaches the server as a plain GET and is refused.
    Strip,
    /// Forwards `{location}ws` to a socket that accepts and never answers,
    /// as a proxy or firewall that holds upgrades does: the browser's
    /// WebSocket stays connecting.
    Stall,
}

/// What the proxy forwards and how.
#[derive(Debug, Clone, Copy)]
pub struct Proxy {
    /// Port of the Parley server behind nginx (on 127.0.0.1).
    pub upstream: u16,
    /// The `location` forwarded, e.g. `/`, or `/chat/` for a server run with
    /// `--base-path /chat`; the path reaches the server unchanged.
    pub location: &'static str,
    /// What becomes of WebSocket upgrades.
    pub upgrades: Upgrades,
}

/// A running nginx, killed on drop.
pub struct Nginx {
    child: Child,
    port: u16,
    dir: PathBuf,
    /// For [`Upgrades::Stall`]: listens, never accepts, so connections
    /// complete in the backlog and are never answered.
    _stall: Option<TcpListener>,
}

impl Nginx {
    /// Starts nginx on a free port.
    pub async fn start(proxy: Proxy) -> Nginx {
        Nginx::start_on(super::free_port(), proxy).await
    }

    /// Starts nginx on `port`, e.g. the port of one just dropped, to change
    /// the proxy under a page that is already open.
    pub async fn start_on(port: u16, proxy: Proxy) -> Nginx {
        let dir = prefix_dir(port);
        let stall = (proxy.upgrades == Upgrades::Stall)
            .then(|| TcpListener::bind("127.0.0.1:0").expect("bind the stalling socket"));
        let stall_port = stall
            .as_ref()
            .map(|l| l.local_addr().expect("stalling address").port());
        let conf = config(&dir, port, proxy, stall_port);
        Nginx::launch(port, dir, &conf, stall).await
    }

    /// Starts nginx on a free port as a load balancer in front of several
    /// Parley servers (ports on 127.0.0.1): plain round robin, no
    /// stickiness, so consecutive requests go to different servers even on
    /// one client connection. WebSocket upgrades are passed on. Its access
    /// log records which server served each request ([`Nginx::access_log`]).
    pub async fn start_balancing(upstreams: &[u16]) -> Nginx {
        let port = super::free_port();
        let dir = prefix_dir(port);
        let conf = balancing_config(&dir, port, upstreams);
        Nginx::launch(port, dir, &conf, None).await
    }

    /// Starts nginx on `port` with the shortest config a hurried user
    /// writes, `location / { proxy_pass http://127.0.0.1:UPSTREAM; }`: it
    /// sends `Host: 127.0.0.1:UPSTREAM` upstream, no forwarding headers, and
    /// (speaking HTTP/1.0 upstream) no `Upgrade`. With `upgrades`, the three
    /// lines that let WebSocket through are added, `Host` still not kept.
    pub async fn start_hurried(port: u16, upstream: u16, upgrades: bool) -> Nginx {
        let extra = if upgrades {
            "proxy_http_version 1.1;\n            \
             proxy_set_header Upgrade $http_upgrade;\n            \
             proxy_set_header Connection \"upgrade\";"
        } else {
            ""
        };
        Nginx::start_with(port, upstream, extra).await
    }

    /// Starts nginx on `port` proxying everything to `upstream` with
    /// `directives` in its one `location` (and nothing else: no `Host`
    /// kept, unless the directives say so).
    pub async fn start_with(port: u16, upstream: u16, directives: &str) -> Nginx {
        let dir = prefix_dir(port);
        let location = format!(
            "location / {{\n            proxy_pass http://127.0.0.1:{upstream};\n            {directives}\n        }}"
        );
        let conf = skeleton(&dir, port, "access_log off;", &location);
        Nginx::launch(port, dir, &conf, None).await
    }

    /// Starts nginx on a free port with `site` (a `parley config nginx`
    /// output, whose `listen 80;` becomes that port) included in its `http`
    /// block as an operator's conf.d/ would be, after `nginx -t` has
    /// accepted the whole configuration.
    pub async fn start_site(site: &str) -> Nginx {
        let port = super::free_port();
        let dir = prefix_dir(port);
        let site = site.replace("listen 80;", &format!("listen 127.0.0.1:{port};"));
        std::fs::write(dir.join("parley.conf"), site).expect("write the site");
        let conf = site_config(&dir);
        let conf_path = dir.join("nginx.conf");
        std::fs::write(&conf_path, &conf).expect("write nginx.conf");
        let check = Command::new(NGINX)
            .arg("-t")
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(&conf_path)
            .arg("-e")
            .arg(dir.join("error.log"))
            .output()
            .unwrap_or_else(|e| panic!("cannot run {NGINX}: {e}"));
        assert!(
            check.status.success(),
            "nginx -t refused the configuration:\n{}",
            String::from_utf8_lossy(&check.stderr)
        );
        Nginx::launch(port, dir, &conf, None).await
    }

    /// Writes `conf` into `dir`, runs nginx with it and waits until it
    /// listens on `port`.
    async fn launch(port: u16, dir: PathBuf, conf: &str, stall: Option<TcpListener>) -> Nginx {
        let conf_path = dir.join("nginx.conf");
        std::fs::write(&conf_path, conf).expect("write nginx.conf");
        let stderr = std::fs::File::create(dir.join("stderr.log")).expect("create stderr.log");
        let child = Command::new(NGINX)
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(&conf_path)
            // Before it reads the config nginx logs to its built-in path;
            // -e keeps even that inside the prefix.
            .arg("-e")
            .arg(dir.join("error.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {NGINX}: {e}"));
        let mut nginx = Nginx {
            child,
            port,
            dir,
            _stall: stall,
        };
        nginx.wait_ready().await;
        nginx
    }

    /// The port nginx listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// For [`Nginx::start_balancing`]: one line per request so far,
    /// `$upstream_addr $request_method $uri` (e.g.
    /// `127.0.0.1:40123 GET /poll`). Empty for the other proxies, which keep
    /// no access log.
    pub fn access_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("access.log")).unwrap_or_default()
    }

    /// Waits until it listens, with its logs if it exits first.
    async fn wait_ready(&mut self) {
        super::daemon::wait_listening("nginx", &mut self.child, self.port, &self.dir).await;
    }

    fn logs(&self) -> String {
        super::daemon::logs(&self.dir)
    }
}

/// A fresh prefix directory for an nginx on `port`, after checking that
/// nginx is installed.
fn prefix_dir(port: u16) -> PathBuf {
    assert!(
        Path::new(NGINX).exists(),
        "{NGINX} is missing: run scripts/test, which installs nginx, or install it yourself"
    );
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let dir = std::env::temp_dir().join(format!(
        "parley-nginx-{}-{port}-{nanos}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).expect("create the nginx prefix directory");
    dir
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let kept = artifacts_dir().join(format!("nginx-{}-error.log", self.port));
            let _ = std::fs::write(kept, self.logs());
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The whole nginx.conf: one server, its location (and for
/// [`Upgrades::Stall`] an exact one for the WebSocket path), everything
/// under `dir`.
fn config(dir: &Path, port: u16, proxy: Proxy, stall_port: Option<u16>) -> String {
    let Proxy {
        upstream,
        location,
        upgrades,
    } = proxy;
    let upgrade = upgrade_headers(upgrades);
    let mut locations = forward(location, &format!("127.0.0.1:{upstream}"), upgrade);
    if let Some(stall) = stall_port {
        locations.push_str("\n        ");
        locations.push_str(&forward(
            &format!("= {location}ws"),
            &format!("127.0.0.1:{stall}"),
            upgrade,
        ));
    }
    skeleton(dir, port, "access_log off;", &locations)
}

/// The nginx.conf of [`Nginx::start_balancing`]: an `upstream` of every
/// server, round robin (nginx's default), and an access log naming the
/// server that answered each request.
fn balancing_config(dir: &Path, port: u16, upstreams: &[u16]) -> String {
    let servers = upstreams
        .iter()
        .map(|upstream| format!("server 127.0.0.1:{upstream};"))
        .collect::<Vec<_>>()
        .join("\n        ");
    let http = format!(
        r#"log_format upstreams '$upstream_addr $request_method $uri';
    access_log {}/access.log upstreams;
    upstream parley {{
        {servers}
    }}"#,
        dir.display()
    );
    let locations = forward("/", "parley", upgrade_headers(Upgrades::Pass));
    skeleton(dir, port, &http, &locations)
}

/// The proxy headers for WebSocket upgrades under `upgrades`.
fn upgrade_headers(upgrades: Upgrades) -> &'static str {
    match upgrades {
        Upgrades::Pass | Upgrades::Stall => {
            "proxy_set_header Upgrade $http_upgrade;\n            \
             proxy_set_header Connection \"upgrade\";"
        }
        Upgrades::Strip => {
            "proxy_set_header Upgrade \"\";\n            \
             proxy_set_header Connection \"\";"
        }
    }
}

/// A `location` that proxies to `target` (`host:port` or an upstream's
/// name) with `upgrade` as its upgrade headers.
fn forward(location: &str, target: &str, upgrade: &str) -> String {
    format!(
        r#"location {location} {{
            proxy_pass http://{target};
            proxy_http_version 1.1;
            # $http_host, not $host: $host drops the port, and Parley allows
            # a browser's Origin only when its host:port equals the Host
            # header, so with $host every WebSocket upgrade and polling
            # request from the page would be refused (403).
            proxy_set_header Host $http_host;
            # Long polls wait up to 25 s at the server (--poll-wait-secs).
            proxy_read_timeout 60s;
            # A long poll's answer must reach the browser at once.
            proxy_buffering off;
            {upgrade}
        }}"#
    )
}

/// The nginx.conf of [`Nginx::start_site`]: the site in `dir` included in
/// the `http` block, everything else under `dir`.
fn site_config(dir: &Path) -> String {
    let dir = dir.display();
    format!(
        r#"daemon off;
master_process off;
pid {dir}/nginx.pid;
error_log {dir}/error.log;
events {{}}
http {{
    access_log off;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    include {dir}/parley.conf;
}}
"#
    )
}

/// The rest of nginx.conf around `http_extra` (directives in the `http`
/// block) and `locations` (the one server's), everything under `dir`.
fn skeleton(dir: &Path, port: u16, http_extra: &str, locations: &str) -> String {
    let dir = dir.display();
    format!(
        r#"daemon off;
master_process off;
pid {dir}/nginx.pid;
error_log {dir}/error.log;
events {{}}
http {{
    {http_extra}
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server {{
        listen 127.0.0.1:{port};
        {locations}
    }}
}}
"#
    )
}
