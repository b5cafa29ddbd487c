//! Routing's SQL, one file per concern: the configuration it caches, its rules, the conversations it places
//! (and the changes people make to their owners), the queues' waits, their life by the clock, presence and live connections, the
//! timeline, and the supervisor's overview. Everything is re-exported here: callers say `store::routing::…`.

mod config;
mod lifecycle;
mod overview;
mod ownership;
mod placement;
mod presence;
mod rules;
mod timeline;
mod waiting;

pub use config::*;
pub use lifecycle::*;
pub use overview::*;
pub use ownership::*;
pub use placement::*;
pub use presence::*;
pub use rules::*;
pub use timeline::*;
pub use waiting::*;
