//! `parley config apache`: an Apache httpd virtual host in front of Parley
//! on the same machine (mod_proxy_http, which forwards WebSocket upgrades
//! itself since Apache 2.4.47). It keeps the browser's `Host`, sets
//! `X-Forwarded-For`/`-Proto`, outlasts the long-poll and keeps `/metrics`
//! from the public.

use super::{comment, Deployment};

/// The virtual host, as Apache configuration text.
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
        "Parley behind Apache httpd, written by `parley config apache` for the server flags given. Parley runs on this machine, started with",
    ));
    out.push_str(&format!("#   {}\n", d.command_line()));
    out.push_str(&comment(
        "# ",
        "(`parley config systemd` with the same flags writes a unit that does). Needs Apache 2.4.47 or later and its proxy modules: `a2enmod proxy proxy_http proxy_wstunnel headers`. Save this file as /etc/apache2/sites-available/parley.conf, then run `a2ensite parley`, `apache2ctl configtest` and `systemctl reload apache2`.",
    ));
    out.push('\n');
    let port = if site.https { 443 } else { 80 };
    out.push_str(&format!("<VirtualHost *:{port}>\n"));
    match &site.host {
        Some(host) => out.push_str(&format!("    ServerName {host}\n")),
        None => out.push_str("    # ServerName chat.example.com\n"),
    }
    if site.https {
        let host = site.host.as_deref().unwrap_or("chat.example.com");
        out.push_str(&format!(
            "    SSLEngine on\n    \
             SSLCertificateFile    /etc/letsencrypt/live/{host}/fullchain.pem\n    \
             SSLCertificateKeyFile /etc/letsencrypt/live/{host}/privkey.pem\n"
        ));
    } else {
        out.push_str(&comment(
            "    # ",
            "For HTTPS, serve this on *:443 with SSLEngine on and your certificate (or let `certbot --apache` do it); Parley needs no change.",
        ));
    }
    out.push_str(
        "\n    # Keep the browser's Host: Parley's origin check compares the\n    \
         # browser's Origin with it.\n    \
         ProxyPreserveHost On\n",
    );
    let trust = d.trust_warning().unwrap_or_else(|| {
        "mod_proxy_http adds X-Forwarded-For (the client's address, believed because Parley lists this proxy in --trusted-proxies) and X-Forwarded-Host; the scheme the browser used it leaves out.".to_owned()
    });
    out.push_str(&comment("    # ", &trust));
    out.push_str("    RequestHeader set X-Forwarded-Proto expr=%{REQUEST_SCHEME}\n\n");
    out.push_str(&format!(
        "    # Prometheus metrics: for a scraper on this machine, not the public.\n    \
         <Location \"{base}/metrics\">\n        Require ip 127.0.0.1 ::1\n    </Location>\n\n"
    ));
    if !base.is_empty() {
        out.push_str(&format!(
            "    RedirectMatch 301 \"^{base}$\" \"{prefix}\"\n\n"
        ));
    }
    out.push_str(&comment(
        "    # ",
        &format!(
            "upgrade=websocket forwards WebSocket upgrades on the same connection; the timeout outlasts the long-poll wait ({wait} s, --poll-wait-secs), with margin. mod_proxy_http hands each answer on as it arrives, so nothing holds a long-poll back. The path reaches Parley unchanged{}.",
            if base.is_empty() {
                String::new()
            } else {
                format!(", as --base-path {base} expects")
            }
        ),
    ));
    out.push_str(&format!(
        "    ProxyPass        \"{prefix}\" \"http://{upstream}{prefix}\" upgrade=websocket timeout={timeout}\n    \
         ProxyPassReverse \"{prefix}\" \"http://{upstream}{prefix}\"\n\
         </VirtualHost>\n"
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::super::{Deployment, Site};
    use super::*;
    use crate::config::Config;

    fn render_for(args: &[&str]) -> String {
        let config =
            Config::parse_args(std::iter::once("parley").chain(args.iter().copied())).unwrap();
        render(&Deployment::new(&config, &[], Site::of(&config)))
    }

    #[test]
    fn the_host_forwards_what_parley_needs() {
        let text = render_for(&["--port", "3001"]);
        for line in [
            "<VirtualHost *:80>",
            "ProxyPreserveHost On",
            "RequestHeader set X-Forwarded-Proto expr=%{REQUEST_SCHEME}",
            "<Location \"/metrics\">",
            "ProxyPass        \"/\" \"http://127.0.0.1:3001/\" upgrade=websocket timeout=75",
        ] {
            assert!(text.contains(line), "{line} missing from:\n{text}");
        }
    }

    #[test]
    fn a_base_path_is_forwarded_unchanged() {
        let text = render_for(&["--port", "3001", "--base-path", "/chat"]);
        assert!(text.contains("RedirectMatch 301 \"^/chat$\" \"/chat/\""));
        assert!(text.contains("ProxyPass        \"/chat/\" \"http://127.0.0.1:3001/chat/\""));
        assert!(text.contains("<Location \"/chat/metrics\">"));
    }
}
