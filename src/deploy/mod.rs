//! `parley config TARGET`: ready configurations for what runs Parley or
//! stands in front of it (nginx, Apache, IIS, systemd), written from the
//! same [`Config`] the server reads. A configuration printed for some flags
//! therefore fits the server started with them, and a changed default
//! changes every configuration with it (the shipped `web.config` and the
//! examples in docs/DEPLOY.md are this output, kept equal by tests).
//!
//! This file holds what the targets share: the settings the server is to
//! run with, where a proxy reaches it, how long a proxy must wait, and
//! what to say about `--trusted-proxies`. Each target's file renders text
//! from a [`Deployment`] and nothing else: no I/O, no network.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use crate::config::Config;

mod apache;
mod iis;
mod nginx;
mod systemd;

/// What `parley config` writes a configuration for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Target {
    /// An nginx site (a `map` and a `server` block for conf.d/).
    Nginx,
    /// An Apache httpd virtual host (mod_proxy_http, Apache 2.4.47 or later).
    Apache,
    /// The `web.config` IIS and Azure App Service (Windows) read.
    Iis,
    /// A systemd unit that runs Parley.
    Systemd,
}

/// One server setting given explicitly, on the command line or through its
/// environment variable, as typed (a list joined with commas).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    /// The flag's long name, without its dashes (`base-path`).
    pub flag: String,
    /// Its environment variable (`PARLEY_BASE_PATH`).
    pub env: String,
    /// Its value.
    pub value: String,
}

impl Setting {
    fn new(flag: &str, env: &str, value: impl Into<String>) -> Setting {
        Setting {
            flag: flag.to_owned(),
            env: env.to_owned(),
            value: value.into(),
        }
    }
}

/// Where the public reaches Parley, as far as a proxy's configuration
/// needs it: from `--public-url` (`https://chat.example.com/chat/` gives
/// the host, HTTPS and the base path) when given; otherwise any host name,
/// plain HTTP (TLS is the operator's to add) and the server's base path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Site {
    /// The host name browsers use, or `None` for whatever they send.
    pub(crate) host: Option<String>,
    /// Whether browsers come over HTTPS, so the proxy terminates TLS.
    pub(crate) https: bool,
    /// The path Parley is served under: empty, or `/chat`.
    pub(crate) base_path: String,
}

impl Site {
    /// The site as the server's flags alone describe it.
    pub(crate) fn of(config: &Config) -> Site {
        let public = config.public_url.as_ref();
        Site {
            host: public.map(|url| url.host().to_owned()),
            https: public.is_some_and(|url| url.origin.starts_with("https://")),
            base_path: config.base_path(),
        }
    }

    /// The location prefix that holds every route: `/` or `/chat/`.
    pub(crate) fn prefix(&self) -> String {
        format!("{}/", self.base_path)
    }
}

/// Everything a generator renders from.
pub(crate) struct Deployment<'a> {
    config: &'a Config,
    given: &'a [Setting],
    site: Site,
}

/// The flags a generator sets itself, not copied from what was given.
const OWN_FLAGS: [&str; 3] = ["port", "bind", "trusted-proxies"];

impl<'a> Deployment<'a> {
    /// A deployment of `config`, where `given` lists the settings named
    /// explicitly (the rest are defaults), reached by the public at `site`.
    pub(crate) fn new(config: &'a Config, given: &'a [Setting], site: Site) -> Deployment<'a> {
        Deployment {
            config,
            given,
            site,
        }
    }

    /// The site the public reaches.
    pub(crate) fn site(&self) -> &Site {
        &self.site
    }

    /// Where the rooms are kept on this machine: `None` when Parley writes
    /// no files (Redis keeps them, or `--data-dir none`), else the data
    /// directory and whether it was given (not the default).
    pub(crate) fn data_dir(&self) -> Option<(std::path::PathBuf, bool)> {
        if self.config.redis_url.is_some() {
            return None;
        }
        let dir = self.config.data_dir()?;
        Some((dir, self.given("data-dir").is_some()))
    }

    fn given(&self, flag: &str) -> Option<&Setting> {
        self.given.iter().find(|s| s.flag == flag)
    }

    /// The address Parley binds: as given, else loopback, since the proxy
    /// runs on the same machine and nothing else should reach Parley.
    fn bind(&self) -> IpAddr {
        if self.given("bind").is_some() {
            self.config.bind
        } else {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        }
    }

    /// Where a proxy on this machine connects: `127.0.0.1:3000`.
    pub(crate) fn upstream(&self) -> String {
        let port = self.config.port();
        match self.bind() {
            IpAddr::V4(ip) if ip.is_unspecified() => format!("127.0.0.1:{port}"),
            IpAddr::V6(ip) if ip.is_unspecified() => format!("[{}]:{port}", Ipv6Addr::LOCALHOST),
            IpAddr::V4(ip) => format!("{ip}:{port}"),
            IpAddr::V6(ip) => format!("[{ip}]:{port}"),
        }
    }

    /// The settings Parley is to run with: the port (unless the host hands
    /// it over), the bind address, the trusted proxies (`loopback` unless
    /// given), then every other setting given, in `--help` order.
    pub(crate) fn server_settings(&self, with_port: bool, loopback: &str) -> Vec<Setting> {
        let mut settings = Vec::new();
        if with_port {
            settings.push(Setting::new("port", "PORT", self.config.port().to_string()));
        }
        settings.push(Setting::new("bind", "PARLEY_BIND", self.bind().to_string()));
        let trusted = self
            .given("trusted-proxies")
            .map_or_else(|| loopback.to_owned(), |s| s.value.clone());
        settings.push(Setting::new(
            "trusted-proxies",
            "PARLEY_TRUSTED_PROXIES",
            trusted,
        ));
        settings.extend(
            self.given
                .iter()
                .filter(|s| !OWN_FLAGS.contains(&s.flag.as_str()))
                .cloned(),
        );
        settings
    }

    /// The command line that starts Parley for a proxy on this machine.
    pub(crate) fn command_line(&self) -> String {
        let mut line = String::from("parley");
        for setting in self.server_settings(true, "127.0.0.1") {
            line.push_str(&format!(
                " --{} {}",
                setting.flag,
                shell_word(&setting.value)
            ));
        }
        line
    }

    /// How long the long-poll waits (`--poll-wait-secs`).
    pub(crate) fn poll_wait(&self) -> Duration {
        self.config.limits().poll_wait
    }

    /// How long a proxy must let a request sit without an answer: three
    /// long-poll waits, and at least 30 s more than one, so a poll that
    /// waits its whole time on a slow network is never cut.
    pub(crate) fn proxy_timeout(&self) -> Duration {
        let wait = self.poll_wait();
        (wait * 3).max(wait + Duration::from_secs(30))
    }

    /// What to say about `--trusted-proxies`, for a proxy that connects
    /// from loopback: `None` when Parley trusts it, else a warning.
    pub(crate) fn trust_warning(&self) -> Option<String> {
        let given = self.given("trusted-proxies")?;
        let loopback = self
            .config
            .trusted_proxies
            .iter()
            .any(|ip| ip.is_loopback());
        (!loopback && self.bind().is_loopback()).then(|| {
            format!(
                "WARNING: --trusted-proxies is {}, which leaves out this proxy (it connects from loopback): Parley will count every user as the proxy's one address, for every per-client limit. Add 127.0.0.1.",
                given.value
            )
        })
    }
}

/// `text` as one shell word: as is when nothing in it is special to a
/// shell, else in single quotes.
fn shell_word(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./:,=@%+".contains(c));
    if plain {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// Wraps `text` into comment lines of at most 76 columns, each starting
/// with `lead` (`    # `).
pub(crate) fn comment(lead: &str, text: &str) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && lead.len() + line.len() + 1 + word.len() > 76 {
            out.push_str(lead);
            out.push_str(&line);
            out.push('\n');
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        out.push_str(lead);
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// The configuration for `target`.
pub fn render(target: Target, config: &Config, given: &[Setting]) -> String {
    let deployment = Deployment::new(config, given, Site::of(config));
    match target {
        Target::Nginx => nginx::render(&deployment),
        Target::Apache => apache::render(&deployment),
        Target::Iis => iis::render(&deployment),
        Target::Systemd => systemd::render(&deployment),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(args: &[&str]) -> Config {
        Config::parse_args(std::iter::once("parley").chain(args.iter().copied())).unwrap()
    }

    #[test]
    fn the_proxy_reaches_loopback_unless_told_otherwise() {
        let defaults = config(&["--port", "3000"]);
        let none = [];
        let d = Deployment::new(&defaults, &none, Site::of(&defaults));
        assert_eq!(d.upstream(), "127.0.0.1:3000");
        let given = [Setting::new("bind", "PARLEY_BIND", "::")];
        let any6 = config(&["--port", "3000", "--bind", "::"]);
        let d = Deployment::new(&any6, &given, Site::of(&any6));
        assert_eq!(d.upstream(), "[::1]:3000");
        let given = [Setting::new("bind", "PARLEY_BIND", "10.0.0.5")];
        let lan = config(&["--port", "3000", "--bind", "10.0.0.5"]);
        let d = Deployment::new(&lan, &given, Site::of(&lan));
        assert_eq!(d.upstream(), "10.0.0.5:3000");
    }

    #[test]
    fn the_proxy_outlasts_the_long_poll() {
        for wait in ["1", "25", "100"] {
            let c = config(&["--poll-wait-secs", wait]);
            let d = Deployment::new(&c, &[], Site::of(&c));
            assert!(d.proxy_timeout() >= d.poll_wait() + Duration::from_secs(30));
        }
        let c = config(&["--poll-wait-secs", "25"]);
        assert_eq!(
            Deployment::new(&c, &[], Site::of(&c)).proxy_timeout(),
            Duration::from_secs(75)
        );
    }

    #[test]
    fn the_command_line_keeps_what_was_given_and_quotes_it() {
        let c = config(&["--port", "3000", "--redis-prefix", "a b"]);
        let given = [
            Setting::new("port", "PORT", "3000"),
            Setting::new("redis-prefix", "PARLEY_REDIS_PREFIX", "a b"),
        ];
        let d = Deployment::new(&c, &given, Site::of(&c));
        assert_eq!(
            d.command_line(),
            "parley --port 3000 --bind 127.0.0.1 --trusted-proxies 127.0.0.1 --redis-prefix 'a b'"
        );
        assert_eq!(shell_word("it's"), r"'it'\''s'");
    }

    #[test]
    fn trusting_other_proxies_only_is_flagged() {
        let c = config(&["--trusted-proxies", "10.0.0.1"]);
        let given = [Setting::new(
            "trusted-proxies",
            "PARLEY_TRUSTED_PROXIES",
            "10.0.0.1",
        )];
        let d = Deployment::new(&c, &given, Site::of(&c));
        assert!(d.trust_warning().is_some_and(|w| w.contains("10.0.0.1")));
        let c = config(&[]);
        assert_eq!(Deployment::new(&c, &[], Site::of(&c)).trust_warning(), None);
    }

    #[test]
    fn comments_wrap() {
        let text = "word ".repeat(40);
        let wrapped = comment("    # ", &text);
        assert!(wrapped
            .lines()
            .all(|l| l.len() <= 76 && l.starts_with("    # ")));
        assert_eq!(
            wrapped.split_whitespace().filter(|w| *w == "word").count(),
            40
        );
    }
}
