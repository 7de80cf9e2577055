// Shared by build.rs (the app manifest that generates one `allow-*`
// permission per command) and by the capability test; keep in sync with
// `commands::handler`.
pub const ALL: &[&str] = &[
    "app_info",
    "subscribe",
    "sockets",
    "add_socket",
    "remove_socket",
    "cancel_socket",
    "retry_socket",
    "sessions",
    "session_events",
    "scenarios",
    "run_scenario",
    "export_session",
    "import_har",
    "pick_har_file",
    "otlp_settings",
    "set_otlp_settings",
];
