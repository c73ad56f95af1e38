#pragma once

#include "s3repl/detail/require_cxx17.hpp" // first: a C++14 build stops here, in one line

// Umbrella header: everything s3repl offers.
#include "s3repl/clock.hpp"
#include "s3repl/destination.hpp"
#include "s3repl/destination_status.hpp"
#include "s3repl/dispatch.hpp"
#include "s3repl/error.hpp"
#include "s3repl/key.hpp"
#include "s3repl/manager.hpp"
#include "s3repl/manager_interface.hpp"
#include "s3repl/object_id.hpp"
#include "s3repl/outcome_metrics.hpp"
#include "s3repl/prometheus.hpp"
#include "s3repl/restore_options.hpp"
#include "s3repl/rules.hpp"
#include "s3repl/shared_mutex.hpp"
#include "s3repl/status.hpp"
#include "s3repl/sweep_policy.hpp"
#include "s3repl/sweeper.hpp"
#include "s3repl/timestamp.hpp"
#include "s3repl/validate.hpp"
#include "s3repl/version.hpp"
