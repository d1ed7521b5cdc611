//! `parley config nginx`: an nginx site in front of Parley on the same
//! machine, for nginx's `conf.d/` (a `map` and a `server` block, both at
//! `http` level). It forwards WebSocket upgrades, keeps the browser's
//! `Host`, sets `X-Forwarded-For`/`-Proto`, outlasts the long-poll, passes
//! long-poll answers on unbuffered and keeps `/metrics` from the public.

use super::{comment, Deployment};

/// The site, as nginx configuration text.
pub(crate) fn render(d: &Deployment) -> String {
    let site = d.site();
    let upstream = d.upstream();
    let base = &site.base_path;
    let prefix = site.prefix();
    let timeout = d.proxy_timeout().as_secs();
    let wait = d.poll_wait().as_secs();
    let mut out = String::new();
    out.push_str(&comment(
        "# ",
        "Parley behind nginx, written by `parley config nginx` for the server flags given. Parley runs on this machine, started with",
    ));
    out.push_str(&format!("#   {}\n", d.command_line()));
    out.push_str(&comment(
        "# ",
        "(`parley config systemd` with the same flags writes a unit that does). Save this file as /etc/nginx/conf.d/parley.conf, then run `nginx -t` and `systemctl reload nginx`.",
    ));
    out.push_str(
        "\n# \"Connection: upgrade\" only when the browser asked for an upgrade (a\n\
         # WebSocket); otherwise \"close\", as nginx sends by default.\n\
         map $http_upgrade $connection_upgrade {\n    default upgrade;\n    ''      close;\n}\n\n",
    );
    let server_name = site.host.as_deref().unwrap_or("_");
    if site.https {
        out.push_str(&format!(
            "server {{\n    listen 80;\n    server_name {server_name};\n    return 301 https://$host$request_uri;\n}}\n\n\
             server {{\n    listen 443 ssl;\n    server_name {server_name};\n\n    \
             ssl_certificate     /etc/letsencrypt/live/{server_name}/fullchain.pem;\n    \
             ssl_certificate_key /etc/letsencrypt/live/{server_name}/privkey.pem;\n\n"
        ));
    } else {
        out.push_str(&format!(
            "server {{\n    listen 80;\n    server_name {server_name};\n"
        ));
        out.push_str(&comment(
            "    # ",
            "For HTTPS, add `listen 443 ssl;` and your certificate here (or let `certbot --nginx` do it); Parley needs no change.",
        ));
        out.push('\n');
    }
    out.push_str(
        "    # Every location below inherits these; none sets headers of its own.\n    \
         proxy_http_version 1.1;\n    \
         # WebSockets: forward the browser's upgrade.\n    \
         proxy_set_header Upgrade           $http_upgrade;\n    \
         proxy_set_header Connection        $connection_upgrade;\n    \
         # $http_host, not $host: it keeps the port, and Parley's origin check\n    \
         # compares the browser's Origin with exactly this.\n    \
         proxy_set_header Host              $http_host;\n    \
         proxy_set_header X-Forwarded-Host  $http_host;\n",
    );
    let trust = d.trust_warning().unwrap_or_else(|| {
        "The client's address, believed because Parley lists this proxy in --trusted-proxies, and the scheme the browser used.".to_owned()
    });
    out.push_str(&comment("    # ", &trust));
    out.push_str(&format!(
        "    proxy_set_header X-Forwarded-For   $proxy_add_x_forwarded_for;\n    \
         proxy_set_header X-Forwarded-Proto $scheme;\n    \
         # Longer than the long-poll wait ({wait} s, --poll-wait-secs), with margin;\n    \
         # WebSockets are pinged every 5 s and never come near it.\n    \
         proxy_read_timeout {timeout}s;\n    \
         proxy_send_timeout {timeout}s;\n    \
         # A long-poll's answer must reach the browser at once. (Parley also\n    \
         # sends \"X-Accel-Buffering: no\" with it; this says it for all.)\n    \
         proxy_buffering off;\n\n"
    ));
    if !base.is_empty() {
        out.push_str(&format!(
            "    location = {base} {{\n        return 301 {prefix};\n    }}\n\n"
        ));
        out.push_str(&comment(
            "    # ",
            &format!(
                "No path after the address: nginx passes {prefix}... on unchanged, as --base-path {base} expects (\"proxy_pass http://{upstream}/;\" would strip the prefix)."
            ),
        ));
    }
    out.push_str(&format!(
        "    location {prefix} {{\n        proxy_pass http://{upstream};\n    }}\n\n    \
         # Prometheus metrics: for a scraper on this machine, not the public.\n    \
         location = {base}/metrics {{\n        allow 127.0.0.1;\n        allow ::1;\n        \
         deny  all;\n        proxy_pass http://{upstream};\n    }}\n}}\n"
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::super::{Deployment, Setting, Site};
    use super::*;
    use crate::config::Config;

    fn render_for(args: &[&str], given: &[Setting], site: Option<Site>) -> String {
        let config =
            Config::parse_args(std::iter::once("parley").chain(args.iter().copied())).unwrap();
        let site = site.unwrap_or_else(|| Site::of(&config));
        render(&Deployment::new(&config, given, site))
    }

    #[test]
    fn the_site_forwards_what_parley_needs() {
        let text = render_for(&["--port", "3000", "--poll-wait-secs", "40"], &[], None);
        for line in [
            "proxy_set_header Upgrade           $http_upgrade;",
            "proxy_set_header Host              $http_host;",
            "proxy_set_header X-Forwarded-For   $proxy_add_x_forwarded_for;",
            "proxy_set_header X-Forwarded-Proto $scheme;",
            "proxy_read_timeout 120s;",
            "proxy_buffering off;",
            "location / {",
            "proxy_pass http://127.0.0.1:3000;",
            "location = /metrics {",
        ] {
            assert!(text.contains(line), "{line} missing from:\n{text}");
        }
    }

    #[test]
    fn a_base_path_is_forwarded_unchanged() {
        let text = render_for(&["--base-path", "chat/"], &[], None);
        assert!(text.contains("location = /chat {\n        return 301 /chat/;"));
        assert!(text.contains("location /chat/ {"));
        assert!(text.contains("location = /chat/metrics {"));
        assert!(!text.contains("location / {"));
    }

    #[test]
    fn a_public_host_over_https_gets_tls() {
        let site = Site {
            host: Some("chat.example.com".into()),
            https: true,
            base_path: String::new(),
        };
        let text = render_for(&[], &[], Some(site));
        assert!(text.contains("listen 443 ssl;\n    server_name chat.example.com;"));
        assert!(text.contains("return 301 https://$host$request_uri;"));
    }
}
