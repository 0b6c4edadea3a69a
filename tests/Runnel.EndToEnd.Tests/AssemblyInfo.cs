using Xunit.Sdk;
using Xunit.v3;

// Every test here starts several service processes (or a CLI per call) on a 2-core machine; run
// the classes one after another so a crash test's timing is not distorted by a parallel cluster.
[assembly: Parallelization(Mode = ParallelMode.None)]
