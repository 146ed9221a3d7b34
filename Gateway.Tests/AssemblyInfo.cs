// Hosts bind real sockets; two fixtures at a time keeps a 2-core machine responsive.
[assembly: NUnit.Framework.Parallelizable(NUnit.Framework.ParallelScope.Fixtures)]
[assembly: NUnit.Framework.LevelOfParallelism(2)]
