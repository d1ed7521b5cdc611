//! Guards `web.config`, the file IIS and Azure App Service (Windows) read to
//! run `parley.exe` behind HttpPlatformHandler. Nothing in the server reads
//! it and no test host here runs IIS, so a slip in it would otherwise show
//! only on a Windows host: a 500.19 for malformed XML, a 502 when the port
//! or the binary is wrong, WebSockets quietly off, long-polls cut short by
//! IIS, or rooms split between two processes.
//!
//! Each check is a function over the parsed document. The real file must
//! pass every one, and for every one a copy of the file broken in exactly
//! that respect must fail it, so no check can pass vacuously. The file is
//! also exactly what `parley config iis` prints for the default flags, and
//! that command's output for other flags passes the same checks.

use std::time::Duration;

use parley::Limits;
use roxmltree::{Document, Node};

/// The file under test, at the top of the repository.
const WEB_CONFIG: &str = include_str!("../web.config");

/// A check over the parsed file: `Err` says what is wrong.
type Check = fn(&Document) -> Result<(), String>;

/// The IIS module that starts Parley and forwards requests to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Module {
    /// HttpPlatformHandler, configured by `<httpPlatform>`.
    HttpPlatform,
    /// The ASP.NET Core Module, configured by `<aspNetCore>`.
    AspNetCore,
}

impl Module {
    fn from_handler(modules: &str) -> Option<Module> {
        if modules.eq_ignore_ascii_case("httpPlatformHandler") {
            Some(Module::HttpPlatform)
        } else if modules.eq_ignore_ascii_case("AspNetCoreModuleV2")
            || modules.eq_ignore_ascii_case("AspNetCoreModule")
        {
            Some(Module::AspNetCore)
        } else {
            None
        }
    }

    /// The element holding the module's settings.
    fn element(self) -> &'static str {
        match self {
            Module::HttpPlatform => "httpPlatform",
            Module::AspNetCore => "aspNetCore",
        }
    }
}

/// Live elements (commented-out ones are not nodes) with this tag name.
fn elements<'a, 'i>(doc: &'a Document<'i>, name: &'a str) -> impl Iterator<Item = Node<'a, 'i>> {
    doc.descendants()
        .filter(move |n| n.is_element() && n.has_tag_name(name))
}

/// The one module that every request is mapped to.
fn module(doc: &Document) -> Result<Module, String> {
    let mapped: Vec<Module> = elements(doc, "add")
        .filter(|n| {
            n.parent_element()
                .is_some_and(|p| p.has_tag_name("handlers"))
        })
        .filter(|n| n.attribute("path") == Some("*"))
        .filter_map(|n| n.attribute("modules").and_then(Module::from_handler))
        .collect();
    match mapped.as_slice() {
        [one] => Ok(*one),
        [] => Err(
            "no handler maps path=\"*\" to httpPlatformHandler or the ASP.NET Core Module".into(),
        ),
        more => Err(format!(
            "{} process handlers are mapped; IIS would start Parley more than once",
            more.len()
        )),
    }
}

/// The settings element of the mapped module.
fn settings<'a, 'i>(doc: &'a Document<'i>) -> Result<Node<'a, 'i>, String> {
    let name = module(doc)?.element();
    let mut found = elements(doc, name);
    match (found.next(), found.next()) {
        (Some(one), None) => Ok(one),
        (None, _) => Err(format!("no <{name}> element")),
        (Some(_), Some(_)) => Err(format!("more than one <{name}> element")),
    }
}

/// The value of the environment variable `name` passed to Parley.
fn env_var<'a>(settings: Node<'a, '_>, name: &str) -> Option<&'a str> {
    settings
        .descendants()
        .filter(|n| n.has_tag_name("environmentVariable"))
        .find(|n| {
            n.attribute("name")
                .is_some_and(|v| v.eq_ignore_ascii_case(name))
        })
        .and_then(|n| n.attribute("value"))
}

/// Parses an IIS time span written as `hh:mm:ss`.
fn parse_hms(text: &str) -> Result<Duration, String> {
    let parts: Vec<u64> = text
        .split(':')
        .map(|p| p.trim().parse::<u64>())
        .collect::<Result<_, _>>()
        .map_err(|_| format!("{text:?} is not hh:mm:ss"))?;
    match parts.as_slice() {
        [h, m, s] if *m < 60 && *s < 60 => Ok(Duration::from_secs(h * 3600 + m * 60 + s)),
        _ => Err(format!("{text:?} is not hh:mm:ss")),
    }
}

fn is_true(value: Option<&str>) -> bool {
    value.is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

// ---- The checks ------------------------------------------------------------

fn is_an_iis_configuration(doc: &Document) -> Result<(), String> {
    let root = doc.root_element();
    if !root.has_tag_name("configuration") {
        return Err(format!(
            "the root is <{}>, not <configuration>",
            root.tag_name().name()
        ));
    }
    if elements(doc, "system.webServer").count() != 1 {
        return Err("expected one <system.webServer> section".into());
    }
    Ok(())
}

fn maps_every_request_to_one_process_module(doc: &Document) -> Result<(), String> {
    module(doc).map(|_| ())
}

fn runs_parley(doc: &Document) -> Result<(), String> {
    let path = settings(doc)?
        .attribute("processPath")
        .ok_or("no processPath")?;
    let file = path.rsplit(['\\', '/']).next().unwrap_or(path);
    if file.eq_ignore_ascii_case("parley.exe") || file.eq_ignore_ascii_case("parley") {
        Ok(())
    } else {
        Err(format!("processPath {path:?} does not name parley.exe"))
    }
}

fn passes_the_port(doc: &Document) -> Result<(), String> {
    let settings = settings(doc)?;
    let port = env_var(settings, "PORT");
    match module(doc)? {
        Module::HttpPlatform => match port {
            Some(value) if value.contains("%HTTP_PLATFORM_PORT%") => Ok(()),
            Some(value) => Err(format!("PORT is {value:?}, not %HTTP_PLATFORM_PORT%")),
            None => Err("no PORT environment variable carrying %HTTP_PLATFORM_PORT%".into()),
        },
        // The module hands over ASPNETCORE_PORT, which Parley reads only
        // when PORT is unset.
        Module::AspNetCore => match port {
            None => Ok(()),
            Some(value) => Err(format!("PORT={value:?} would hide ASPNETCORE_PORT")),
        },
    }
}

fn outlasts_a_long_poll(doc: &Document) -> Result<(), String> {
    let settings = settings(doc)?;
    let text = settings
        .attribute("requestTimeout")
        .ok_or("no requestTimeout; say it rather than rely on a default")?;
    let timeout = parse_hms(text)?;
    let poll_wait = Limits::default().poll_wait;
    if timeout <= poll_wait {
        return Err(format!(
            "requestTimeout {timeout:?} does not outlast the {poll_wait:?} long-poll wait"
        ));
    }
    if module(doc)? == Module::HttpPlatform && timeout.as_secs() % 60 != 0 {
        return Err(format!(
            "HttpPlatformHandler takes whole minutes only, not {text}"
        ));
    }
    Ok(())
}

fn logs_stdout(doc: &Document) -> Result<(), String> {
    let settings = settings(doc)?;
    if !is_true(settings.attribute("stdoutLogEnabled")) {
        return Err("stdoutLogEnabled is not true; a failed start would leave no trace".into());
    }
    match settings.attribute("stdoutLogFile") {
        Some(file) if !file.trim().is_empty() => Ok(()),
        _ => Err("no stdoutLogFile".into()),
    }
}

fn runs_one_process(doc: &Document) -> Result<(), String> {
    match settings(doc)?.attribute("processesPerApplication") {
        None | Some("1") => Ok(()),
        Some(n) => Err(format!(
            "processesPerApplication={n}: rooms live in one process"
        )),
    }
}

fn lets_websockets_through(doc: &Document) -> Result<(), String> {
    let mut found = elements(doc, "webSocket");
    match (found.next(), found.next()) {
        (Some(ws), None) if is_true(ws.attribute("enabled")) => Ok(()),
        (Some(_), None) => {
            Err("<webSocket> must be enabled=\"true\" for the handler to forward upgrades".into())
        }
        (None, _) => {
            Err("no <webSocket> element; the site would inherit whatever the server says".into())
        }
        (Some(_), Some(_)) => Err("more than one <webSocket> element".into()),
    }
}

/// Every check, by name.
const CHECKS: [(&str, Check); 8] = [
    ("is_an_iis_configuration", is_an_iis_configuration),
    (
        "maps_every_request_to_one_process_module",
        maps_every_request_to_one_process_module,
    ),
    ("runs_parley", runs_parley),
    ("passes_the_port", passes_the_port),
    ("outlasts_a_long_poll", outlasts_a_long_poll),
    ("logs_stdout", logs_stdout),
    ("runs_one_process", runs_one_process),
    ("lets_websockets_through", lets_websockets_through),
];

// ---- Tests -----------------------------------------------------------------

fn parse(text: &str) -> Document<'_> {
    Document::parse(text).unwrap_or_else(|err| panic!("web.config is not well-formed XML: {err}"))
}

/// The file with the first `from` after the first `anchor` replaced by `to`.
/// Panics if either is gone, so these tests cannot go stale unnoticed.
fn broken(anchor: &str, from: &str, to: &str) -> String {
    let start = WEB_CONFIG
        .find(anchor)
        .unwrap_or_else(|| panic!("web.config no longer contains {anchor:?}; update this test"));
    let at = start
        + WEB_CONFIG[start..]
            .find(from)
            .unwrap_or_else(|| panic!("no {from:?} after {anchor:?}; update this test"));
    format!(
        "{}{to}{}",
        &WEB_CONFIG[..at],
        &WEB_CONFIG[at + from.len()..]
    )
}

/// Asserts that `check` refuses `text` (which must still be well-formed).
fn refuses(check: Check, text: &str) -> String {
    check(&parse(text)).expect_err("the check passed a broken web.config")
}

#[test]
fn web_config_passes_every_check() {
    let doc = parse(WEB_CONFIG);
    let failures: Vec<String> = CHECKS
        .iter()
        .filter_map(|(name, check)| check(&doc).err().map(|why| format!("{name}: {why}")))
        .collect();
    assert!(failures.is_empty(), "{failures:#?}");
}

/// What `parley config iis ARGS` prints.
fn printed(args: &[&str]) -> String {
    let argv = ["parley", "config", "iis"].iter().chain(args).copied();
    match parley::Command::parse_args(argv) {
        Ok(parley::Command::Print(text)) => text,
        other => panic!("parley config iis {args:?}: {other:?}"),
    }
}

#[test]
fn web_config_is_what_parley_config_iis_prints() {
    assert!(
        printed(&[]) == WEB_CONFIG,
        "web.config differs from `parley config iis`: regenerate it with \
         `cargo run -- config iis > web.config` (no PARLEY_* variables set), \
         or change src/deploy/iis.rs"
    );
}

#[test]
fn parley_config_iis_passes_every_check_for_other_flags() {
    let flags: [&[&str]; 3] = [
        &["--base-path", "/chat"],
        &["--poll-wait-secs", "100", "--port", "8080"],
        &["--allowed-origins", "https://a.example,https://b.example"],
    ];
    for args in flags {
        let text = printed(args);
        let doc = parse(&text);
        for (name, check) in CHECKS {
            assert_eq!(check(&doc), Ok(()), "{name} for {args:?}");
        }
    }
    assert!(printed(&["--base-path", "chat"])
        .contains("<environmentVariable name=\"PARLEY_BASE_PATH\" value=\"chat\" />"));
    assert!(printed(&["--poll-wait-secs", "100"]).contains("requestTimeout=\"00:05:00\""));
}

#[test]
fn malformed_xml_is_caught() {
    // The classic slip: a flag like "--bind" inside a comment, which XML forbids.
    let flag_in_comment = broken(
        "<webSocket ",
        "<webSocket",
        "<!-- pass --bind here -->\n    <webSocket",
    );
    assert!(Document::parse(&flag_in_comment).is_err());
    let plain_comment = flag_in_comment.replace("--bind", "the bind flag");
    assert!(Document::parse(&plain_comment).is_ok());
    let truncated = &WEB_CONFIG[..WEB_CONFIG.len() / 2];
    assert!(Document::parse(truncated).is_err());
    let wrong_root = WEB_CONFIG.replace("configuration>", "settings>");
    assert!(refuses(is_an_iis_configuration, &wrong_root).contains("root"));
}

#[test]
fn a_missing_or_doubled_handler_is_caught() {
    let static_files = broken(
        "<handlers>",
        "modules=\"httpPlatformHandler\"",
        "modules=\"StaticFileModule\"",
    );
    refuses(maps_every_request_to_one_process_module, &static_files);
    let both = broken(
        "<handlers>",
        "</handlers>",
        "<add name=\"aspNetCore\" path=\"*\" verb=\"*\" modules=\"AspNetCoreModuleV2\" />\n    </handlers>",
    );
    assert!(refuses(maps_every_request_to_one_process_module, &both).contains("more than once"));
}

#[test]
fn another_binary_is_caught() {
    let node = broken(
        "<httpPlatform ",
        "processPath=\".\\parley.exe\"",
        "processPath=\".\\node.exe\"",
    );
    refuses(runs_parley, &node);
}

#[test]
fn a_lost_port_is_caught() {
    let fixed = broken(
        "<httpPlatform ",
        "value=\"%HTTP_PLATFORM_PORT%\"",
        "value=\"3000\"",
    );
    refuses(passes_the_port, &fixed);
    let renamed = broken("<httpPlatform ", "name=\"PORT\"", "name=\"LISTEN_PORT\"");
    refuses(passes_the_port, &renamed);
}

#[test]
fn a_timeout_shorter_than_a_poll_is_caught() {
    let short = broken(
        "<httpPlatform ",
        "requestTimeout=\"00:02:00\"",
        "requestTimeout=\"00:00:20\"",
    );
    assert!(refuses(outlasts_a_long_poll, &short).contains("long-poll"));
    let odd = broken(
        "<httpPlatform ",
        "requestTimeout=\"00:02:00\"",
        "requestTimeout=\"00:01:30\"",
    );
    assert!(refuses(outlasts_a_long_poll, &odd).contains("whole minutes"));
    let garbled = broken(
        "<httpPlatform ",
        "requestTimeout=\"00:02:00\"",
        "requestTimeout=\"2 minutes\"",
    );
    refuses(outlasts_a_long_poll, &garbled);
    assert_eq!(parse_hms("01:02:03"), Ok(Duration::from_secs(3723)));
}

#[test]
fn silent_stdout_is_caught() {
    let off = broken(
        "<httpPlatform ",
        "stdoutLogEnabled=\"true\"",
        "stdoutLogEnabled=\"false\"",
    );
    refuses(logs_stdout, &off);
}

#[test]
fn a_second_process_is_caught() {
    let four = broken(
        "<httpPlatform ",
        "processesPerApplication=\"1\"",
        "processesPerApplication=\"4\"",
    );
    refuses(runs_one_process, &four);
}

#[test]
fn websockets_switched_off_or_left_out_are_caught() {
    let off = broken("<webSocket ", "enabled=\"true\"", "enabled=\"false\"");
    refuses(lets_websockets_through, &off);
    let missing = broken("<webSocket ", "<webSocket enabled=\"true\" />", "");
    refuses(lets_websockets_through, &missing);
}

#[test]
fn the_aspnetcore_variant_must_leave_port_unset() {
    // The same file switched to the ASP.NET Core Module: PORT would now hide
    // the ASPNETCORE_PORT the module hands over.
    let switched = broken(
        "<handlers>",
        "modules=\"httpPlatformHandler\"",
        "modules=\"AspNetCoreModuleV2\"",
    )
    .replacen("<httpPlatform ", "<aspNetCore ", 1)
    .replacen("</httpPlatform>", "</aspNetCore>", 1);
    assert_eq!(module(&parse(&switched)), Ok(Module::AspNetCore));
    assert!(refuses(passes_the_port, &switched).contains("ASPNETCORE_PORT"));
    let without_port = switched.replacen(
        "<environmentVariable name=\"PORT\" value=\"%HTTP_PLATFORM_PORT%\" />",
        "",
        1,
    );
    assert_ne!(
        without_port, switched,
        "the PORT line moved; update this test"
    );
    assert_eq!(passes_the_port(&parse(&without_port)), Ok(()));
}
