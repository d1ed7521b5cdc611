//! `parley config iis`: the `web.config` with which IIS, or Azure App
//! Service on Windows, runs `parley.exe` behind HttpPlatformHandler (the
//! ASP.NET Core Module as a commented alternative). The file shipped at the
//! top of the repository is this output for the default flags; its header
//! comment, written here, says why each line is there.

use super::{Deployment, Setting};

/// `text` safe inside an XML attribute.
fn attribute(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// One `<environmentVariable>` element, indented by `indent`.
fn variable(indent: &str, name: &str, value: &str) -> String {
    format!(
        "{indent}<environmentVariable name=\"{}\" value=\"{}\" />\n",
        attribute(name),
        attribute(value)
    )
}

/// `requestTimeout`: the proxy timeout in whole minutes (HttpPlatformHandler
/// takes no seconds), as `hh:mm:ss`.
fn request_timeout(d: &Deployment) -> String {
    let minutes = d.proxy_timeout().as_secs().div_ceil(60);
    format!("{:02}:{:02}:00", minutes / 60, minutes % 60)
}

/// The file, as text.
pub(crate) fn render(d: &Deployment) -> String {
    let settings: Vec<Setting> = d.server_settings(false, "127.0.0.1,::1");
    let timeout = request_timeout(d);
    let wait = d.poll_wait().as_secs();
    let base = &d.site().base_path;
    let (base_note, base_hint) = if base.is_empty() {
        (
            "IIS forwards the path unchanged, so add PARLEY_BASE_PATH=/chat below.",
            "        <!-- <environmentVariable name=\"PARLEY_BASE_PATH\" value=\"/chat\" /> -->\n",
        )
    } else {
        (
            "IIS forwards the path unchanged; PARLEY_BASE_PATH below says which.",
            "",
        )
    };
    let mut platform_env = variable("        ", "PORT", "%HTTP_PLATFORM_PORT%");
    let mut core_env = String::new();
    for setting in &settings {
        platform_env.push_str(&variable("        ", &setting.env, &setting.value));
        core_env.push_str(&variable("        ", &setting.env, &setting.value));
    }
    platform_env.push_str(&variable("        ", "RUST_LOG", "info"));
    platform_env.push_str(base_hint);
    core_env.push_str(&variable("        ", "RUST_LOG", "info"));
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<!--
  Parley behind IIS (Windows Server, or Azure App Service on Windows),
  written by `parley config iis` for the server settings given.

  IIS runs parley.exe as a separate process through HttpPlatformHandler and
  forwards every request of this site (or application) to it. docs/DEPLOY.md
  walks through the whole set-up; this header says why each line is here.

  * handlers: one mapping, path="*", so IIS serves nothing itself: the page,
    its assets, /ws, /poll, /healthz and /metrics all come from Parley.
    responseBufferLimit="0" asks IIS not to hold a response back. Parley's
    long-poll answers are complete JSON bodies, so no buffer can hold one
    past the moment it is complete; the setting keeps it that way if a
    streamed endpoint is ever added.
  * processPath=".\parley.exe": a leading dot means "relative to the site
    root" (HttpPlatformHandler 1.2 and later), so the same file works on a
    plain IIS site and on App Service (D:\home\site\wwwroot).
  * The port: HttpPlatformHandler picks a free loopback port and hands it
    over in HTTP_PLATFORM_PORT, which Parley reads by itself. PORT is pinned
    to the same value anyway, because PORT wins over HTTP_PLATFORM_PORT in
    Parley's lookup: a stray PORT in the machine's or the app's settings
    would otherwise make Parley listen where IIS never connects.
  * PARLEY_BIND=127.0.0.1: the handler connects over IPv4 loopback, and
    nothing else should reach the process directly.
  * PARLEY_TRUSTED_PROXIES=127.0.0.1,::1: every request now arrives from
    loopback, so X-Forwarded-For (which the handler appends) is believed
    from there and from nowhere else.
  * processesPerApplication="1": rooms and sessions live in one process's
    memory; a second process would split every room in two.
  * requestTimeout="{timeout}": how long IIS waits for an answer. It must
    exceed the long-poll wait ({wait} s here, PARLEY_POLL_WAIT_SECS).
    HttpPlatformHandler's schema takes whole minutes only.
  * stdoutLogEnabled / stdoutLogFile: Parley logs to stderr, which the
    handler writes to logs\parley-stdout_*.log. Create the logs folder and
    let the application pool's identity write to it.
  * webSocket enabled="true": the handler forwards a WebSocket only when
    IIS's own WebSocket Protocol feature is installed and on for the site;
    with it off, browsers fall back to long-polling. The opposite advice,
    enabled="false", is for iisnode, which speaks WebSocket itself.
  * httpErrors existingResponse="PassThrough": Parley's 4xx answers carry a
    JSON body with a stable error code; IIS must not swap it for its own
    HTML error page.

  Served under a virtual directory or application (https://host/chat/)?
  {base_note}

  The ASP.NET Core Module V2 can run Parley instead (it descends from
  HttpPlatformHandler and is maintained); see the commented block at the
  end, and use one handler or the other, never both.
-->
<configuration>
  <system.webServer>
    <handlers>
      <add name="httpPlatformHandler" path="*" verb="*" modules="httpPlatformHandler"
           resourceType="Unspecified" requireAccess="Script" responseBufferLimit="0" />
    </handlers>

    <httpPlatform processPath=".\parley.exe"
                  arguments=""
                  processesPerApplication="1"
                  startupTimeLimit="20"
                  startupRetryCount="3"
                  requestTimeout="{timeout}"
                  stdoutLogEnabled="true"
                  stdoutLogFile=".\logs\parley-stdout">
      <environmentVariables>
{platform_env}      </environmentVariables>
    </httpPlatform>

    <webSocket enabled="true" />

    <httpErrors existingResponse="PassThrough" />
  </system.webServer>

  <!--
    Alternative: the ASP.NET Core Module V2, out of process. Replace the
    handlers and httpPlatform elements above with these. The module hands
    the port over in ASPNETCORE_PORT, which Parley reads by itself; do not
    set PORT for this module, or Parley would listen on the wrong port.
    On shutdown the module first posts to /iisintegration (Parley answers
    404) and then sends Ctrl+C, which Parley treats as a graceful stop.

    <handlers>
      <add name="aspNetCore" path="*" verb="*" modules="AspNetCoreModuleV2"
           resourceType="Unspecified" />
    </handlers>
    <aspNetCore processPath=".\parley.exe"
                arguments=""
                hostingModel="OutOfProcess"
                startupTimeLimit="20"
                shutdownTimeLimit="10"
                requestTimeout="{timeout}"
                stdoutLogEnabled="true"
                stdoutLogFile=".\logs\parley-stdout">
      <environmentVariables>
{core_env}      </environmentVariables>
    </aspNetCore>
  -->
</configuration>
"#
    )
}

#[cfg(test)]
mod tests {
    use super::super::Site;
    use super::*;
    use crate::config::Config;

    #[test]
    fn the_timeout_is_whole_minutes_past_the_proxy_timeout() {
        for (wait, expected) in [("25", "00:02:00"), ("1", "00:01:00"), ("1500", "01:15:00")] {
            let config = Config::parse_args(["parley", "--poll-wait-secs", wait]).unwrap();
            let d = Deployment::new(&config, &[], Site::of(&config));
            assert_eq!(request_timeout(&d), expected, "for {wait} s");
        }
    }

    #[test]
    fn a_base_path_given_is_set_and_values_are_escaped() {
        let config = Config::parse_args(["parley", "--base-path", "/chat"]).unwrap();
        let given = [
            Setting {
                flag: "base-path".into(),
                env: "PARLEY_BASE_PATH".into(),
                value: "/chat".into(),
            },
            Setting {
                flag: "redis-url".into(),
                env: "REDIS_URL".into(),
                value: "redis://a\"<&>".into(),
            },
        ];
        let text = render(&Deployment::new(&config, &given, Site::of(&config)));
        assert!(text.contains(
            "        <environmentVariable name=\"PARLEY_BASE_PATH\" value=\"/chat\" />\n"
        ));
        assert!(!text.contains("<!-- <environmentVariable"));
        assert!(text.contains("value=\"redis://a&quot;&lt;&amp;&gt;\""));
    }
}
