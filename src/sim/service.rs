//! The market-probe service: how a real service calls its bookmakers through the breaker
//! (the seed's section 12.5).
//!
//! Every method makes real HTTP requests, each with the client's per-request timeout, and
//! wraps the whole operation in one [`ProductionCircuitBreaker::call_api_classified`] call
//! with the seed's operation name and estimated load:
//!
//! | method                            | operation   | estimated load | requests                     |
//! |-----------------------------------|-------------|----------------|------------------------------|
//! | [`MarketProbeService::execute_bookmaker_api_probe`] | `deepProbe` | 50  | `GET /markets`, then the depth of 3 markets (4 endpoints × ~12.5) |
//! | [`MarketProbeService::simulate_micro_bet_attempt`]  | `microBet`  | 10  | `POST /bets/micro`           |
//! | [`MarketProbeService::probe_dark_pool_market`]      | `darkPool`  | 150 | `GET /darkpool/{market}`     |
//!
//! `darkPool` is above the breaker's heavy-operation threshold (100), so it is the one shed
//! while the host is overloaded; the other two never are.
//!
//! Errors are classified explicitly: the HTTP client's own timeout counts as a timeout
//! (weight 0.5 by default); any other failure, a 5xx above all, as a failure (weight 1.0).
//! A rejected call (breaker open, or load shed) never reaches the network.

use crate::breaker::{CallContext, ProductionCircuitBreaker};
use crate::error::{BreakerError, CallError};
use crate::sim::client::{HttpClient, UpstreamError};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;

/// Operation name and estimated load of [`MarketProbeService::execute_bookmaker_api_probe`].
pub const DEEP_PROBE: (&str, f64) = ("deepProbe", 50.0);
/// Operation name and estimated load of [`MarketProbeService::simulate_micro_bet_attempt`].
pub const MICRO_BET: (&str, f64) = ("microBet", 10.0);
/// Operation name and estimated load of [`MarketProbeService::probe_dark_pool_market`].
pub const DARK_POOL: (&str, f64) = ("darkPool", 150.0);

/// How many markets a deep probe reads the depth of (plus the market list: 4 requests).
pub const DEEP_PROBE_MARKETS: usize = 3;

/// What a call through the service returns instead of its value.
pub type ProbeError = CallError<UpstreamError>;

/// The result of a deep probe: the market list and the depth of the first markets.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeepProbe {
    pub bookmaker: String,
    pub markets: Vec<String>,
    /// Number of price levels (bids + asks) seen over the probed markets.
    pub depth_levels: usize,
    /// HTTP requests the probe made.
    pub requests: usize,
}

/// The bookmaker's answer to a micro bet.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MicroBetReceipt {
    pub bookmaker: String,
    pub accepted: bool,
    pub bet_id: Option<String>,
    pub odds: Option<f64>,
}

/// A dark-pool quote.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DarkPoolQuote {
    pub bookmaker: String,
    pub market: String,
    pub hidden_liquidity: Option<u64>,
    pub odds: Option<f64>,
}

/// Probes bookmakers' markets; every request goes through the shared breaker.
///
/// Cheap to share between threads (`Arc<MarketProbeService>`): the breaker and the HTTP
/// client's connection pool are shared.
#[derive(Debug, Clone)]
pub struct MarketProbeService {
    breaker: Arc<ProductionCircuitBreaker>,
    client: HttpClient,
    /// bookmaker -> base URL (no trailing slash)
    endpoints: HashMap<String, String>,
}

impl MarketProbeService {
    pub fn new(breaker: Arc<ProductionCircuitBreaker>, client: HttpClient) -> Self {
        MarketProbeService {
            breaker,
            client,
            endpoints: HashMap::new(),
        }
    }

    /// Adds a bookmaker and the base URL of its API (`http://host:port`).
    pub fn with_bookmaker(mut self, name: &str, base_url: &str) -> Self {
        self.endpoints
            .insert(name.to_owned(), base_url.trim_end_matches('/').to_owned());
        self
    }

    pub fn breaker(&self) -> &Arc<ProductionCircuitBreaker> {
        &self.breaker
    }

    pub fn client(&self) -> &HttpClient {
        &self.client
    }

    /// The bookmakers this service knows, by name.
    pub fn bookmakers(&self) -> Vec<String> {
        let mut names: Vec<String> = self.endpoints.keys().cloned().collect();
        names.sort();
        names
    }

    fn base_url(&self, bookmaker: &str) -> Result<&str, ProbeError> {
        self.endpoints
            .get(bookmaker)
            .map(String::as_str)
            .ok_or_else(|| {
                CallError::Breaker(BreakerError::InvalidArgument {
                    detail: format!("no API endpoint configured for bookmaker {bookmaker:?}"),
                })
            })
    }

    /// Runs `call` through the breaker as `operation`: the client's timeout counts as a
    /// timeout, everything else as a failure.
    fn guarded<T>(
        &self,
        bookmaker: &str,
        (operation, estimated_load): (&str, f64),
        call: impl FnOnce() -> Result<T, UpstreamError>,
    ) -> Result<T, ProbeError> {
        self.breaker.call_api_classified(
            bookmaker,
            &CallContext::new(operation, estimated_load),
            call,
            UpstreamError::is_timeout,
        )
    }

    /// The seed's `executeBookmakerApiProbe` (12.5.1): the market list, then the depth of the
    /// first [`DEEP_PROBE_MARKETS`] markets, as one `deepProbe` call (estimated load 50). The
    /// first failing request ends the probe.
    pub fn execute_bookmaker_api_probe(&self, bookmaker: &str) -> Result<DeepProbe, ProbeError> {
        let base = self.base_url(bookmaker)?;
        self.guarded(bookmaker, DEEP_PROBE, || {
            let url = format!("{base}/markets");
            let list = parse(&url, &self.client.get(&url)?)?;
            let markets: Vec<String> = list["markets"]
                .as_array()
                .map(|ms| {
                    ms.iter()
                        .filter_map(|m| m["id"].as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            let mut requests = 1;
            let mut depth_levels = 0;
            for market in markets.iter().take(DEEP_PROBE_MARKETS) {
                let url = format!("{base}/markets/{market}/depth");
                let depth = parse(&url, &self.client.get(&url)?)?;
                requests += 1;
                depth_levels += ["bids", "asks"]
                    .iter()
                    .filter_map(|side| depth[*side].as_array().map(Vec::len))
                    .sum::<usize>();
            }
            Ok(DeepProbe {
                bookmaker: bookmaker.to_owned(),
                markets,
                depth_levels,
                requests,
            })
        })
    }

    /// The seed's `simulateMicroBetAttempt` (12.5.2): places a tiny bet to see whether the
    /// bookmaker takes it, as one `microBet` call (estimated load 10).
    pub fn simulate_micro_bet_attempt(
        &self,
        bookmaker: &str,
        market: &str,
        stake: f64,
    ) -> Result<MicroBetReceipt, ProbeError> {
        let base = self.base_url(bookmaker)?;
        self.guarded(bookmaker, MICRO_BET, || {
            let url = format!("{base}/bets/micro");
            let body = serde_json::json!({ "market": market, "stake": stake }).to_string();
            let answer = parse(&url, &self.client.post(&url, &body)?)?;
            Ok(MicroBetReceipt {
                bookmaker: bookmaker.to_owned(),
                accepted: answer["accepted"].as_bool().unwrap_or(false),
                bet_id: answer["bet_id"].as_str().map(str::to_owned),
                odds: answer["odds"].as_f64(),
            })
        })
    }

    /// The seed's `probeDarkPoolMarket` (12.5.2): hidden liquidity of one market, as one
    /// `darkPool` call (estimated load 150: heavy, so shed while the host is overloaded).
    pub fn probe_dark_pool_market(
        &self,
        bookmaker: &str,
        market: &str,
    ) -> Result<DarkPoolQuote, ProbeError> {
        let base = self.base_url(bookmaker)?;
        self.guarded(bookmaker, DARK_POOL, || {
            let url = format!("{base}/darkpool/{market}");
            let answer = parse(&url, &self.client.get(&url)?)?;
            Ok(DarkPoolQuote {
                bookmaker: bookmaker.to_owned(),
                market: market.to_owned(),
                hidden_liquidity: answer["hidden_liquidity"].as_u64(),
                odds: answer["odds"].as_f64(),
            })
        })
    }
}

/// A body that is not JSON is the bookmaker's failure, like a 5xx.
fn parse(url: &str, body: &str) -> Result<serde_json::Value, UpstreamError> {
    serde_json::from_str(body).map_err(|e| {
        UpstreamError::Transport(format!("invalid JSON in the answer: {e}"), url.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::BreakerConfig;
    use crate::load::SettableLoad;
    use crate::machine::BreakerState;
    use crate::sim::upstream::{LatencyDist, Profile, SimBookmaker};
    use std::time::Duration;

    fn breaker(dir: &tempfile::TempDir, load: Arc<SettableLoad>) -> Arc<ProductionCircuitBreaker> {
        Arc::new(
            ProductionCircuitBreaker::builder()
                .config(BreakerConfig {
                    failure_threshold: 2.0,
                    ..BreakerConfig::default()
                })
                .load_monitor(load)
                .open(dir.path().join("cb.db"))
                .expect("open"),
        )
    }

    #[test]
    fn methods_call_the_bookmaker_and_classify_errors() {
        let dir = tempfile::tempdir().unwrap();
        let load = Arc::new(SettableLoad::new(0.1));
        let cb = breaker(&dir, load.clone());
        let bm = SimBookmaker::start_with_workers("sim-a", Profile::healthy(), 1, 4).unwrap();
        let svc = MarketProbeService::new(cb.clone(), HttpClient::new(Duration::from_millis(150)))
            .with_bookmaker("sim-a", &bm.base_url());

        let probe = svc.execute_bookmaker_api_probe("sim-a").unwrap();
        assert_eq!(probe.requests, 1 + DEEP_PROBE_MARKETS);
        assert_eq!(probe.markets.len(), 3);
        assert!(
            svc.simulate_micro_bet_attempt("sim-a", "m-1", 0.01)
                .unwrap()
                .accepted
        );
        assert!(
            svc.probe_dark_pool_market("sim-a", "m-1")
                .unwrap()
                .odds
                .is_some()
        );
        assert_eq!(bm.request_count(), 6);

        // Heavy work is shed above the load threshold; light work is not.
        load.set(0.95);
        let shed = svc.probe_dark_pool_market("sim-a", "m-1").unwrap_err();
        assert!(matches!(shed, CallError::LoadShed { .. }), "{shed}");
        assert!(svc.simulate_micro_bet_attempt("sim-a", "m-1", 0.01).is_ok());
        load.set(0.1);

        // A client timeout weighs 0.5: four of them trip a threshold of 2.
        bm.set_extra_latency(Duration::from_millis(400));
        for _ in 0..4 {
            let err = svc
                .simulate_micro_bet_attempt("sim-a", "m-1", 0.01)
                .unwrap_err();
            assert!(
                matches!(err, CallError::Upstream(ref e) if e.is_timeout()),
                "{err}"
            );
        }
        let status = cb.get_status("sim-a").unwrap().unwrap();
        assert_eq!(status.state, BreakerState::Open);
        let before = bm.request_count();
        assert!(matches!(
            svc.execute_bookmaker_api_probe("sim-a").unwrap_err(),
            CallError::Tripped { .. }
        ));
        assert_eq!(bm.request_count(), before, "an open breaker sends nothing");
        bm.shutdown();
    }

    #[test]
    fn a_5xx_weighs_one_and_unknown_bookmakers_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let cb = breaker(&dir, Arc::new(SettableLoad::new(0.0)));
        let bm = SimBookmaker::start_with_workers(
            "sim-b",
            Profile::healthy()
                .with_latency(LatencyDist::fixed_ms(1))
                .with_error_rate(1.0),
            2,
            2,
        )
        .unwrap();
        let svc = MarketProbeService::new(cb.clone(), HttpClient::new(Duration::from_millis(500)))
            .with_bookmaker("sim-b", &bm.base_url());
        let err = svc.probe_dark_pool_market("sim-b", "m-1").unwrap_err();
        assert!(matches!(
            err,
            CallError::Upstream(UpstreamError::Status(500 | 503, _))
        ));
        assert_eq!(cb.get_status("sim-b").unwrap().unwrap().failures, 1.0);
        assert!(matches!(
            svc.probe_dark_pool_market("nobody", "m-1").unwrap_err(),
            CallError::Breaker(_)
        ));
        bm.shutdown();
    }
}
