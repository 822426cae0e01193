/// "Chrome 156 on Linux" from a user agent string; the full string stays in a tooltip.
pub fn describe_agent(ua: &str) -> String {
    let version = |marker: &str| {
        ua.split(marker).nth(1).map(|rest| rest.split(['.', ' ', ';', ')']).next().unwrap_or("").to_string())
    };
    let browser = if let Some(v) = version("Edg/") {
        format!("Edge {v}")
    } else if let Some(v) = version("Firefox/") {
        format!("Firefox {v}")
    } else if let Some(v) = version("Chrome/") {
        format!("Chrome {v}")
    } else if ua.contains("Safari/") {
        version("Version/").map(|v| format!("Safari {v}")).unwrap_or_else(|| "Safari".into())
    } else if ua.contains("curl/") {
        "curl".into()
    } else {
        "Unknown browser".into()
    };
    let os = [
        ("Android", "Android"),
        ("iPhone", "iOS"),
        ("iPad", "iPadOS"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("Linux", "Linux"),
    ]
    .into_iter()
    .find(|(needle, _)| ua.contains(needle))
    .map(|(_, name)| name);
    match os {
        Some(os) => format!("{browser} on {os}"),
        None => browser,
    }
}

#[cfg(test)]
mod tests {
    use super::describe_agent;

    #[test]
    fn user_agents_read_as_browser_and_system() {
        let chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36";
        assert_eq!(describe_agent(chrome), "Chrome 156 on Linux");
        let firefox = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0";
        assert_eq!(describe_agent(firefox), "Firefox 128 on Windows");
        let safari = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";
        assert_eq!(describe_agent(safari), "Safari 17 on iOS");
        assert_eq!(describe_agent("curl/8.5.0"), "curl");
    }
}
