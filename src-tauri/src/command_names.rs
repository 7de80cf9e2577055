// The app's commands, named once. build.rs includes this file for the app
// manifest (one `allow-*` permission per command), `commands::handler`
// registers them with `with_app_commands!(…)`, and the test in commands.rs
// checks that capabilities/main.json grants exactly these.

/// Calls `$then!` with every command's function name.
macro_rules! with_app_commands {
    ($then:ident) => {
        $then! {
            app_info,
            subscribe,
            sockets,
            add_socket,
            remove_socket,
            cancel_socket,
            retry_socket,
            sessions,
            session_events,
            scenarios,
            run_scenario,
            export_session,
            import_har,
            pick_har_file,
            start_recording,
            stop_recording,
            otlp_settings,
            set_otlp_settings,
            first_paint,
        }
    };
}

macro_rules! command_names {
    ($($command:ident),+ $(,)?) => {
        &[$(stringify!($command)),+]
    };
}

/// Every command's name, as the webview invokes it.
#[allow(dead_code)] // Read by build.rs and the capability test.
pub const ALL: &[&str] = with_app_commands!(command_names);
