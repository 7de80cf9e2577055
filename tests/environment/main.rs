//! Integration tests of `sockscope-environment`: a real interface change
//! against the simulator, wake detection on injected clocks, and tokens in a
//! real Secret Service (gnome-keyring in a private D-Bus session).

mod keyring;
mod network;
mod support;
mod wake;
