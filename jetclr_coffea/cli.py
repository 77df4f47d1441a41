"""The ``jetclr-coffea`` command line.

Subcommands are thin: each parses its options into the library's config objects and
calls one library function.  Problems with the user's input end with a one-line
``jetclr-coffea: error: ...`` message and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from jetclr_coffea import __version__
from jetclr_coffea._io import check_writable
from jetclr_coffea.errors import JetCLRError, ParameterError

__all__ = ["main"]

Handler = Callable[[argparse.Namespace], int]


class _StoreOnce(argparse._StoreAction):
    """``store``, but an option given twice is a usage error instead of its last value winning
    silently (``--model A --model B``, ``--signal a.root --signal b.root``)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        seen: set[str] = namespace.__dict__.setdefault("_options_seen", set())
        if option_string is not None and self.dest in seen:
            parser.error(f"{option_string} given more than once: give it once (with all its values)")
        seen.add(self.dest)
        super().__call__(parser, namespace, values, option_string)


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and exit status 2), --help shows every
    option's default, and an option that takes values may be given once only."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", argparse.ArgumentDefaultsHelpFormatter)
        super().__init__(*args, **kwargs)
        self.register("action", None, _StoreOnce)
        self.register("action", "store", _StoreOnce)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


class _TrainParser(_Parser):
    """The ``train`` parser: its help lists the objectives of the registry, imported (with
    torch) only when the help is shown."""

    def format_help(self) -> str:
        try:
            from jetclr_coffea.training.objectives import OBJECTIVES

            names = ", ".join(OBJECTIVES)
        except ImportError:
            names = "see training/objectives/ (install the [train] extra)"
        return super().format_help().replace("{objectives}", names)


def _finish(p: argparse.ArgumentParser, handler: Handler, **aliases: str) -> None:
    """Set a subcommand's handler and the map from library parameter names to its options
    (``dest`` -> option, plus ``aliases`` where the library names a parameter otherwise),
    so that a :class:`ParameterError` names the option the user typed."""
    flags = {a.dest: a.option_strings[-1] if a.option_strings else a.metavar or a.dest
             for a in p._actions if a.dest != "help"}
    flags.update(aliases)
    p.set_defaults(handler=handler, flags=flags)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from err
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value}")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from err
    if value < 0:
        raise argparse.ArgumentTypeError(f"a seed is a non-negative integer, got {value}")
    return value


def _cmd_minbias(args: argparse.Namespace) -> int:
    from jetclr_coffea.gen.minbias import write_minbias_library

    if args.pileup or args.pileup_library or args.flat_pthat:
        raise JetCLRError("generate minbias writes a pile-up library: --pileup, --pileup-library "
                          "and --flat-pthat do not apply")
    seconds = write_minbias_library(args.events, args.seed, args.output, ecm=args.ecm)
    print(f"wrote {args.output}: {args.events} minimum-bias events in {seconds:.1f} s "
          f"({args.events / max(seconds, 1e-9):.1f} events/s)")
    return 0


def _cmd_generate(args: argparse.Namespace) -> int:
    from jetclr_coffea.gen.generate import generate
    from jetclr_coffea.gen.jets import JetConfig
    from jetclr_coffea.gen.pythia import ProcessConfig

    if args.process == "minbias":
        return _cmd_minbias(args)
    if args.pileup_library and not args.pileup > 0:
        raise JetCLRError("--pileup-library needs --pileup MU > 0 (the mean number of interactions)")
    cfg = ProcessConfig(
        process=args.process,
        seed=args.seed,
        ecm=args.ecm,
        pthat_min=args.pthat_min,
        pthat_max=args.pthat_max,
        mass_min=args.mass_min,
        mass_max=args.mass_max,
        mzprime=args.mzprime,
        rinv=args.rinv,
        flat_pthat=args.flat_pthat,
        bias_power=args.flat_pthat_power,
    )
    summary = generate(
        cfg,
        args.events,
        args.output,
        pileup=args.pileup,
        pileup_library=args.pileup_library,
        jets_cfg=JetConfig(pt_min=args.jet_pt_min),
        batch_size=args.batch_size,
        progress=not args.quiet,
        all_candidates=args.all_candidates,
    )
    print(
        f"wrote {summary.output}: {summary.events} {summary.process} events, "
        f"{summary.fat_jets} fat jets, {summary.pf_candidates} PF candidates "
        f"in {summary.seconds:.1f} s ({summary.events_per_second:.1f} events/s)"
    )
    return 0


def _cmd_inspect(args: argparse.Namespace) -> int:
    from jetclr_coffea.inspect_file import summarise

    for i, path in enumerate(args.files):
        if i:
            print()
        print(summarise(path).format())
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from jetclr_coffea.training.loading import load_config
    from jetclr_coffea.training.train import train

    cfg = load_config(args.config)
    if args.seed is not None:
        cfg = cfg.with_seed(args.seed)
    result = train(cfg, resume=args.resume, progress=not args.quiet, max_epochs=args.max_epochs)
    print(f"trained {cfg.name} on {result.device} to epoch {result.epochs}/{cfg.optim.epochs} "
          f"({result.seconds:.0f} s), final loss {result.final_loss:.4f}; checkpoint {result.checkpoint}")
    if result.best_checkpoint is not None:
        stopped = f"; stopped early (patience {cfg.optim.patience})" if result.stopped_early else ""
        print(f"lowest validation loss {result.best_val_loss:.4f} at epoch {result.best_epoch}: "
              f"{result.best_checkpoint}{stopped}")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from jetclr_coffea.training.ensemble import export_ensemble
    from jetclr_coffea.training.export import export

    if len(args.checkpoint) > 1:
        path = export_ensemble(args.checkpoint, args.output)
    else:
        path = export(args.checkpoint[0], args.output)
    print(f"wrote {path}")
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from jetclr_coffea.training.evaluate import evaluate
    from jetclr_coffea.training.head import fit_head

    if (args.pt_min is None) != (args.pt_max is None):
        raise ParameterError("pt_range", "needs both --pt-min and --pt-max, or neither")
    pt_range = (args.pt_min, args.pt_max) if args.pt_min is not None and args.pt_max is not None else None
    if args.fit_head is not None:  # before the evaluation, not after it
        head = Path(args.fit_head)
        for given in (args.model, args.compare):
            if given is not None and head.resolve() == Path(given).resolve():
                raise ParameterError("fit_head", f"{head} is an input model: write the tagged model to "
                                                 "another file")
        check_writable(head)
    report = evaluate(
        args.model, args.signal, args.background, args.output_dir,
        signal_label=args.signal_label, pt_range=pt_range, test_fraction=args.test_fraction,
        seed=args.seed, max_jets=args.max_jets, mass_matched=args.mass_matched,
        ddt_background=args.ddt_background, compare=args.compare, pt_bins=args.pt_bins,
        progress=not args.quiet,
    )
    from jetclr_coffea.training.summary import summary_lines

    print("\n".join(summary_lines(report.metrics)))
    print(f"wrote {report.path} and roc.png")
    if args.fit_head:
        fit_head(args.model, report, args.fit_head)
        print(f"wrote {args.fit_head} with output tagger_score")
    return 0


def _cmd_ot_medoids(args: argparse.Namespace) -> int:
    from jetclr_coffea.training.ot_medoids import OTMedoidConfig, build_ot_medoids, ot_summary

    cfg = OTMedoidConfig(files=tuple(args.files), pt_min=args.pt_min, pt_max=args.pt_max,
                         eta_max=args.eta_max,
                         n_jets=args.jets, k=args.k, p=args.p, n_max=args.n_max, seed=args.seed,
                         check_jets=args.check_jets)
    measured = build_ot_medoids(cfg, args.output, progress=not args.quiet)
    print(f"wrote {args.output}: {ot_summary(cfg, measured)}")
    return 0


def _cmd_linear_ot(args: argparse.Namespace) -> int:
    from jetclr_coffea.training.linear_ot import LOTConfig, build_linear_ot, lot_summary

    cfg = LOTConfig(files=tuple(args.files), pt_min=args.pt_min, pt_max=args.pt_max,
                    eta_max=args.eta_max, n_ref=args.n_ref, ref_jets=args.ref_jets, n_jets=args.jets,
                    k=args.k, n_max=args.n_max, seed=args.seed, check_jets=args.check_jets)
    measured = build_linear_ot(cfg, args.output, progress=not args.quiet)
    print(f"wrote {args.output}: {lot_summary(cfg, measured)}")
    return 0


def _run_options(args: argparse.Namespace) -> Any:
    from jetclr_coffea.processors.memory import parse_size
    from jetclr_coffea.processors.run import RunOptions

    return RunOptions(
        executor=args.executor, workers=args.workers, scheduler=args.scheduler,
        chunksize=args.chunksize, maxchunks=args.maxchunks, skipbadfiles=args.skipbadfiles,
        memory_budget=parse_size(args.memory_budget),
        batch_size=args.batch_size,
    )


def _selection(args: argparse.Namespace) -> Any:
    from jetclr_coffea.processors import FatJetSelection

    return FatJetSelection(pt_min=args.pt_min, eta_max=args.eta_max, msd_min=args.msd_min)


def _cmd_run(args: argparse.Namespace) -> int:
    from jetclr_coffea.processors import LearnedJetTagProcessor
    from jetclr_coffea.processors.friend import check_friend_names
    from jetclr_coffea.processors.run import (
        check_output_dir,
        load_fileset,
        run,
        write_friend_trees,
        write_outputs,
    )
    from jetclr_coffea.processors.selection import parse_model_selection

    opts, selection = _run_options(args), _selection(args)
    check_output_dir(args.output)  # before the first chunk, not after the last
    fileset = load_fileset(args.fileset)
    if args.friend is not None:
        if opts.maxchunks is not None:
            raise ParameterError("friend", "needs every entry of every file: drop --maxchunks")
        check_friend_names(fileset, args.friend)
    own = dict(parse_model_selection(t) for t in args.model_selection or [])
    if len(own) != len(args.model_selection or []):
        raise ParameterError("model_selection", "names a model twice: give one selection per model")
    proc = LearnedJetTagProcessor(args.model, selection, args.ddt_map,
                                  batch_size=args.batch_size, keep_jets=args.skim,
                                  missing_constituents=args.missing_constituents,
                                  threads=opts.onnx_threads, friend=args.friend is not None,
                                  model_selections=own)
    result = run(fileset, proc, opts)
    written = write_outputs(result, args.output, skim=args.skim, skim_format=args.skim_format)
    if args.friend is not None:
        written += write_friend_trees(result, fileset, args.friend)
    for ds, res in result.datasets.items():
        c = res.cutflow
        aside = c["no_constituents"] + c["bad_constituents"] + c["skipped_no_pf_candidates"]
        print(f"{ds}: {c['events']:.0f} events, {c['selected']:.0f} selected fat jets, "
              f"{c['scored']:.0f} scored on {', '.join(sorted(res.providers)) or '-'}"
              + (f", {aside:.0f} not scored (see cutflow.json)" if aside else ""))
    print(f"chunks of {result.chunksize} events (memory budget {args.memory_budget} a worker)")
    for skipped in result.skipped_files:
        print(f"skipped {skipped['file']} ({skipped['dataset']}): {skipped['reason']}")
    print("wrote " + ", ".join(str(p) for p in written))
    return 0


def _cmd_ddt_map(args: argparse.Namespace) -> int:
    from jetclr_coffea.processors.run import load_fileset, make_ddt_map

    opts, selection = _run_options(args), _selection(args)
    path = make_ddt_map(load_fileset(args.fileset), args.model, args.output, score=args.score,
                        efficiency=args.qcd_efficiency, opts=opts, selection=selection,
                        min_jets=args.min_jets_per_bin)
    print(f"wrote {path}")
    return 0


def _cmd_pileup_response(args: argparse.Namespace) -> int:
    from jetclr_coffea.training.pileup_response import pileup_response, response_lines

    if (args.pt_min is None) != (args.pt_max is None):
        raise ParameterError("pt_range", "needs both --pt-min and --pt-max, or neither")
    pt_range = (args.pt_min, args.pt_max) if args.pt_min is not None and args.pt_max is not None else None
    report = pileup_response(args.model, (args.signal, args.signal_pileup),
                             (args.background, args.background_pileup), args.output,
                             signal_label=args.signal_label, pt_range=pt_range, eta_max=args.eta_max,
                             max_events=args.max_events, progress=not args.quiet)
    print("\n".join(response_lines(report)))
    print(f"wrote {args.output}")
    return 0


def _cmd_ddt_closure(args: argparse.Namespace) -> int:
    from jetclr_coffea.processors.closure import closure_lines, ddt_closure
    from jetclr_coffea.processors.run import load_fileset

    opts, selection = _run_options(args), _selection(args)
    report = ddt_closure(load_fileset(args.fileset), args.model, args.ddt_map, args.output,
                         opts=opts, selection=selection)
    print("\n".join(closure_lines(report)))
    print(f"wrote {Path(args.output) / 'closure.json'} and closure.png")
    return 0


def _add_runner_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--executor", default="iterative", choices=("iterative", "futures", "dask"),
                   help="coffea executor")
    p.add_argument("--workers", type=_positive_int, default=1,
                   help="worker processes (futures, dask; the iterative executor runs one)")
    p.add_argument("--scheduler", default=None, help="dask scheduler address (default: a LocalCluster)")
    p.add_argument("--chunksize", type=_positive_int, default=None,
                   help="events per chunk (default: the largest that fits --memory-budget, from the "
                        "files' PF-candidate density)")
    p.add_argument("--memory-budget", default="2GB", help="memory a worker may use, e.g. 2GB, 500MB")
    p.add_argument("--maxchunks", type=_positive_int, default=None, help="chunks per dataset (default: all)")
    p.add_argument("--skipbadfiles", action="store_true",
                   help="leave out unreadable files (listed in cutflow.json and the summary)")
    p.add_argument("--batch-size", type=_positive_int, default=None,
                   help="jets per ONNX call (default: 128 on the CPU, 1024 on CUDA)")
    p.add_argument("--pt-min", type=float, default=200.0, help="fat-jet pT cut (GeV)")
    p.add_argument("--eta-max", type=float, default=2.4, help="fat-jet |eta| cut")
    p.add_argument("--msd-min", type=float, default=0.0, help="fat-jet msoftdrop cut (GeV)")


def _cmd_demo(args: argparse.Namespace) -> int:
    from jetclr_coffea.demo import run_demo

    run_demo(Path(args.output), events=args.events, seed=args.seed,
             models=[Path(m) for m in args.model] if args.model else None, workers=args.workers)
    return 0


def _add_generate(sub: Any) -> None:
    from jetclr_coffea.gen.pythia import PROCESSES

    gen = sub.add_parser(
        "generate",
        help="generate events with Pythia 8 + FastJet into a PFNano-format ROOT file",
        description="Generate events with Pythia 8, a fast detector simulation and FastJet, "
        "and write them as a PFNano-format ROOT file (docs/data.md).",
    )
    gen.add_argument("process", metavar="PROCESS",
                     help=f"one of: {', '.join(PROCESSES)}, or minbias (a pile-up library for "
                          "--pileup-library)")
    gen.add_argument("--events", "-n", type=int, required=True, help="number of events")
    gen.add_argument("--seed", type=int, default=1, help="random seed")
    gen.add_argument("--output", "-o", required=True, help="output ROOT file")
    gen.add_argument("--ecm", type=float, default=13600.0, help="sqrt(s) in GeV")
    gen.add_argument("--pthat-min", type=float, default=500.0, help="GeV")
    gen.add_argument("--pthat-max", type=float, default=700.0, help="GeV")
    gen.add_argument("--mass-min", type=float, default=40.0, help="wprime-flat: lower mass edge, GeV")
    gen.add_argument("--mass-max", type=float, default=250.0, help="wprime-flat: upper mass edge, GeV")
    gen.add_argument("--mzprime", type=float, default=2000.0, help="svj: Z' mass, GeV")
    gen.add_argument("--rinv", type=float, default=0.75, help="svj: invisible fraction")
    gen.add_argument("--pileup", type=float, default=0.0, help="mean number of pile-up interactions")
    gen.add_argument("--pileup-library", metavar="PU.root", default=None,
                     help="overlay Poisson(--pileup) events drawn at random from this minimum-bias "
                          "library (generate minbias), as CMS premixing, instead of generating them")
    gen.add_argument("--flat-pthat", action="store_true",
                     help="bias the pT-hat spectrum by (pT-hat/pthat-min)^power (Pythia's "
                          "bias2Selection); genWeight undoes the bias")
    gen.add_argument("--flat-pthat-power", type=float, default=6.0, help="the bias power")
    gen.add_argument("--jet-pt-min", type=float, default=200.0, help="fat-jet pT cut, GeV")
    gen.add_argument("--batch-size", type=_positive_int, default=100, help="events generated per batch")
    gen.add_argument("--all-candidates", action="store_true",
                     help="store every PF candidate of the event, as CMS PFNano does (real density), "
                          "not only the fat jets' constituents")
    gen.add_argument("--quiet", "-q", action="store_true", help="no progress line")
    _finish(gen, _cmd_generate, n_events="--events")


def _add_training(sub: Any) -> None:
    insp = sub.add_parser("inspect", help="summarise the jets and constituents of NanoAOD files",
                          description="Summarise the fat jets and PF-candidate constituents of NanoAOD or "
                          "PFNano files: the constituent convention, counts per event and per jet.")
    insp.add_argument("files", nargs="+", metavar="FILE", help="NanoAOD or PFNano ROOT file(s)")
    _finish(insp, _cmd_inspect)

    tr = sub.add_parser("train", help="train an encoder from a YAML config",
                        description="Train a jet encoder (objective: {objectives}) from a YAML config "
                        "(training/configs/); checkpoints and a CSV log go to runs/<name>/.")
    tr.__class__ = _TrainParser  # add_parser builds every subparser of one class
    tr.add_argument("config", help="training config (see training/configs/)")
    tr.add_argument("--resume", action="store_true", help="continue from the run's last checkpoint")
    tr.add_argument("--max-epochs", type=int, default=0,
                    help="stop after this many epochs in this call (0: all); --resume continues")
    tr.add_argument("--seed", type=_seed, default=None,
                    help="train with this optim.seed instead of the config's, in runs/<name>_s<SEED>/")
    tr.add_argument("--quiet", "-q", action="store_true", help="no progress line")
    _finish(tr, _cmd_train)

    ex = sub.add_parser("export", help="export a training checkpoint to ONNX",
                        description="Export the encoder of a training checkpoint to ONNX, with its "
                        "model card (preprocessing, outputs, training) embedded.  Several "
                        "checkpoints of supervised classifiers export as one ensemble: their "
                        "scores averaged, their embeddings concatenated.")
    ex.add_argument("checkpoint", nargs="+",
                    help="checkpoint.pt of a training run (several: an ensemble of classifiers)")
    ex.add_argument("--output", "-o", required=True, help="output .onnx file")
    _finish(ex, _cmd_export)
    _add_evaluate(sub)
    _add_ot_medoids(sub)
    _add_linear_ot(sub)


def _add_evaluate(sub: Any) -> None:
    from jetclr_coffea.truth import SIGNAL_LABELS

    ev = sub.add_parser("evaluate", help="linear classifier test of an exported encoder",
                        description="Linear classifier test of an exported encoder against the NanoAOD "
                        "observables on the same jets, the anomaly score's ROC with no fit, and the QCD "
                        "mass sculpting of each; writes metrics.json and roc.png.")
    ev.add_argument("model", help="exported .onnx encoder")
    ev.add_argument("--signal", nargs="+", required=True, help="signal ROOT file(s)")
    ev.add_argument("--background", nargs="+", required=True, help="background ROOT file(s)")
    ev.add_argument("--output-dir", default="evaluation", help="folder for metrics.json and roc.png")
    ev.add_argument("--mass-matched", action="store_true",
                    help="fit the classifiers with the signal weighted to the background's msoftdrop "
                         "spectrum")
    ev.add_argument("--signal-label", default="top", choices=tuple(SIGNAL_LABELS),
                    help="top (fully merged tops only), two_prong (both quarks of a W/Z/Z'/H), "
                         "dark (jets with a dark quark) or any")
    ev.add_argument("--pt-min", type=float, default=None,
                    help="default: the first --pt-bins edge, else the model's training window")
    ev.add_argument("--pt-max", type=float, default=None,
                    help="default: the last --pt-bins edge, else the model's training window")
    ev.add_argument("--pt-bins", type=float, nargs="+", metavar="EDGE",
                    help="jet-pT bin edges (e.g. 300 450 600 800 1000 1500): every metric also per bin in "
                         "metrics.json['pt_bins'] and pt_bins.png; the LCT and the BDT are fitted once on "
                         "the whole training half and evaluated per bin.  Weighted samples (genWeight not "
                         "all equal): jets weighted by genWeight*xsec/sumw in the fits and the metrics")
    ev.add_argument("--test-fraction", type=float, default=0.5, help="held-out fraction, 0 < f < 1")
    ev.add_argument("--seed", type=int, default=1, help="seed of the train/test split")
    ev.add_argument("--max-jets", type=int, default=0, help="jets per file (0: all)")
    ev.add_argument("--ddt-background", nargs="+", default=None, metavar="QCD.root",
                    help="two_prong: QCD files (not the test files) for the DDT maps of the "
                         "decorrelation landscape (N2^DDT, tau21^DDT, the LCT's DDT)")
    ev.add_argument("--compare", metavar="OTHER.onnx", default=None,
                    help="another encoder's LCT on the same jets and split, with the paired differences")
    ev.add_argument("--fit-head", metavar="OUT.onnx", default=None,
                    help="also write the model with the fitted linear tagger as output tagger_score")
    ev.add_argument("--quiet", "-q", action="store_true", help="no progress lines")
    _finish(ev, _cmd_evaluate)


def _add_medoid_model_options(p: argparse.ArgumentParser, *, jets: int, check_jets: int, check_help: str,
                              seed_help: str) -> None:
    """The options ot-medoids and linear-ot share: QCD files, output, medoids, jet window."""
    p.add_argument("files", nargs="+", help="QCD ROOT file(s) (labels are not read)")
    p.add_argument("--output", "-o", required=True, help="output .onnx file")
    p.add_argument("--k", type=_positive_int, default=8, help="number of medoids")
    p.add_argument("--jets", type=_positive_int, default=jets, help="QCD jets the medoids are chosen among")
    p.add_argument("--n-max", type=_positive_int, default=40, help="hardest constituents kept per jet")
    p.add_argument("--check-jets", type=_positive_int, default=check_jets, help=check_help)
    p.add_argument("--pt-min", type=float, default=550.0, help="fat-jet pT window, GeV")
    p.add_argument("--pt-max", type=float, default=650.0, help="fat-jet pT window, GeV")
    p.add_argument("--eta-max", type=float, default=2.0, help="fat-jet |eta| cut")
    p.add_argument("--seed", type=int, default=1, help=seed_help)
    p.add_argument("--quiet", "-q", action="store_true", help="no progress lines")


def _add_ot_medoids(sub: Any) -> None:
    om = sub.add_parser("ot-medoids", help="an OT anomaly score: W_p to the nearest QCD medoid, as ONNX",
                        description="Build the optimal-transport anomaly model: the exact W_p matrix of QCD "
                        "training jets, K medoids by FasterPAM, and an ONNX graph computing each jet's "
                        "Sinkhorn W_p to the nearest medoid (anomaly_score); needs the [ot] extra.")
    _add_medoid_model_options(om, jets=1000, check_jets=200, seed_help="picks the jets, seeds FasterPAM",
                              check_help="further QCD jets on which the graph's score is compared with the "
                                         "exact one")
    om.add_argument("--p", type=float, default=1.0, choices=(1.0, 0.5), help="power of the ground distance")
    _finish(om, _cmd_ot_medoids, n_jets="--jets")


def _add_linear_ot(sub: Any) -> None:
    lo = sub.add_parser("linear-ot", help="a linearized-OT embedding (~ W_2) and its medoid score, as ONNX",
                        description="Build the linearized optimal-transport model "
                        "(arXiv:2008.08604): a reference jet clustered from QCD jets, each jet's "
                        "transport plan to it in the graph, the barycentric projection as embedding "
                        "(Euclidean distances ~ W_2) and the distance to the nearest of K QCD medoids as "
                        "anomaly_score; needs the [ot] and [train] extras.")
    _add_medoid_model_options(lo, jets=2000, check_jets=400, seed_help="picks the jets, seeds k-means and "
                              "FasterPAM", check_help="further QCD jets on which the distances are compared "
                              "with the exact W_2")
    lo.add_argument("--n-ref", type=_positive_int, default=32, help="points of the reference jet")
    lo.add_argument("--ref-jets", type=_positive_int, default=1000,
                    help="QCD jets the reference is clustered from")
    _finish(lo, _cmd_linear_ot, n_jets="--jets")


def _add_processing(sub: Any) -> None:
    rn = sub.add_parser("run", help="run the tagging processor over a fileset with coffea's Runner",
                        description="Run the tagging processor over a fileset with coffea's Runner: "
                        "attach every model's outputs to the selected fat jets and fill the DDT "
                        "histograms; writes hists.pkl, hists.root, cutflow.json (and skim.root).")
    rn.add_argument("fileset", help="JSON: {dataset: [files]}")
    rn.add_argument("--model", action="append", required=True, help="ONNX model (repeatable)")
    rn.add_argument("--model-selection", action="append", default=None, metavar="NAME:CUT=V[,CUT=V]",
                    help="a model's own further jet selection, e.g. ot_medoids_qcd:msd_min=40 (cuts pt_min, "
                         "pt_max, eta_max, msd_min; repeatable, one per model): it runs only on those jets, "
                         "the others get NaN and count as not_selected_<model> in the cutflow")
    rn.add_argument("--ddt-map", action="append", default=None,
                    help="DDT map from jetclr-coffea ddt-map (repeatable: one map per score)")
    rn.add_argument("--output", "-o", required=True, help="output folder")
    rn.add_argument("--skim", action="store_true",
                    help="also write per-jet scores to skim.root (entry, event numbers, jetIdx, pt, eta, "
                         "phi, msoftdrop, rho, every output)")
    rn.add_argument("--skim-format", default="ttree", choices=("ttree", "rntuple"),
                    help="the skim's ROOT format (RNTuple: ROOT >= 6.34)")
    rn.add_argument("--friend", metavar="DIR", default=None,
                    help="also write a NanoAOD friend tree per input file, DIR/<input stem>_friend.root "
                         "(TTree Friends: the input's entries in order, nFatJet, FatJet_<model>_<output>, "
                         "an embedding as FatJet_<model>_embedding_<k>; NaN outside the selection), for "
                         "Events->AddFriend(\"Friends\", file)")
    rn.add_argument("--missing-constituents", default="error", choices=("error", "skip"),
                    help="what to do with files without PF candidates")
    _add_runner_options(rn)
    _finish(rn, _cmd_run, out_dir="--output")
    _add_ddt(sub)
    _add_pileup_response(sub)
    _add_demo(sub)


def _add_ddt(sub: Any) -> None:
    dd = sub.add_parser("ddt-map", help="build a DDT map (correctionlib JSON) from QCD jets",
                        description="Build a DDT map of a model's score from QCD jets: the threshold "
                        "above which a fraction q of QCD jets lies, in bins of rho and pT, as a "
                        "correctionlib JSON that records the model's SHA-256 and the jet selection.")
    dd.add_argument("fileset", help="JSON fileset of QCD")
    dd.add_argument("--model", required=True, help="ONNX model")
    dd.add_argument("--score", default=None,
                    help="output name (default tagger_score, else decorrelated_score, else anomaly_score)")
    dd.add_argument("--qcd-efficiency", type=float, default=0.05, help="QCD efficiency q")
    dd.add_argument("--output", "-o", required=True, help="output JSON")
    dd.add_argument("--min-jets-per-bin", type=float, default=20.0,
                    help="(rho, pT) bins with fewer effective QCD jets (or fewer than 5/q) pool their "
                         "neighbours' jets")
    _add_runner_options(dd)
    _finish(dd, _cmd_ddt_map, efficiency="--qcd-efficiency", min_jets="--min-jets-per-bin")

    dc = sub.add_parser("ddt-closure", help="a DDT map's QCD pass fraction per (msd, pT) bin",
                        description="Check a DDT map's closure: run the model with the map over an "
                        "independent QCD fileset (not the one the map was built from) and write the QCD "
                        "pass fraction with its error and pull in every (msoftdrop, pT) bin "
                        "(closure.json, closure.png), the pass fraction per pT bin and the chi2 against "
                        "the map's target.")
    dc.add_argument("fileset", help="JSON fileset of QCD, independent of the map's")
    dc.add_argument("--model", required=True, help="ONNX model the map was built for")
    dc.add_argument("--ddt-map", required=True, help="DDT map from jetclr-coffea ddt-map")
    dc.add_argument("--output", "-o", required=True, help="output folder")
    _add_runner_options(dc)
    _finish(dc, _cmd_ddt_closure)


def _add_pileup_response(sub: Any) -> None:
    pr = sub.add_parser("pileup-response", help="how a model's scores move with pile-up, jet by jet",
                        description="Match the jets of two samples made with the same --seed at two pile-up "
                        "values (same event, dR < 0.2) and report, per model output and per NanoAOD "
                        "observable, the shift of the score (median, 68%% interval) and the AUC at each "
                        "pile-up value with the paired difference and its bootstrap error (JSON).")
    pr.add_argument("model", help="exported .onnx model")
    pr.add_argument("--signal", nargs="+", required=True, help="reference signal file(s), e.g. mu = 0")
    pr.add_argument("--signal-pileup", nargs="+", required=True,
                    help="the same signal events with pile-up, one per --signal file, in order")
    pr.add_argument("--background", nargs="+", required=True, help="reference background file(s)")
    pr.add_argument("--background-pileup", nargs="+", required=True,
                    help="the same background events with pile-up, one per --background file")
    from jetclr_coffea.truth import SIGNAL_LABELS

    pr.add_argument("--signal-label", default="top", choices=tuple(SIGNAL_LABELS), help="as for evaluate")
    pr.add_argument("--pt-min", type=float, default=None, help="reference jets' pT (default: the model's)")
    pr.add_argument("--pt-max", type=float, default=None, help="reference jets' pT (default: the model's)")
    pr.add_argument("--eta-max", type=float, default=None,
                    help="reference jets' |eta| (default: the model's)")
    pr.add_argument("--max-events", type=int, default=0, help="events read per file (0: all)")
    pr.add_argument("--output", "-o", required=True, help="output JSON")
    pr.add_argument("--quiet", "-q", action="store_true", help="no progress lines")
    _finish(pr, _cmd_pileup_response)


def _add_demo(sub: Any) -> None:
    demo = sub.add_parser("demo", help="the embedded default: the whole chain on small samples",
                          description="The embedded default: generate small QCD and top samples, run the "
                          "six shipped models through coffea's Runner (with friend trees), build DDT maps "
                          "of the taggers' scores, rerun with them, and write histograms and plots.")
    demo.add_argument("--output", "-o", default="demo_output", help="output folder")
    demo.add_argument("--events", type=_positive_int, default=300, help="events per sample")
    demo.add_argument("--seed", type=int, default=1, help="random seed")
    demo.add_argument("--model", action="append", default=None,
                      help="ONNX model (repeatable; default: the six shipped ones)")
    demo.add_argument("--workers", type=_positive_int, default=1, help="processor worker processes")
    _finish(demo, _cmd_demo)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="jetclr-coffea",
        description="Self-supervised jet representations for coffea analyses.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=_Parser
    )
    _add_generate(sub)
    _add_training(sub)
    _add_processing(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except ParameterError as err:
        flags: dict[str, str] = getattr(args, "flags", {})
        name = flags.get(err.param, err.param)
        print(f"jetclr-coffea: error: {err.with_name(name)}", file=sys.stderr)
        return 2
    except JetCLRError as err:
        print(f"jetclr-coffea: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("jetclr-coffea: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
