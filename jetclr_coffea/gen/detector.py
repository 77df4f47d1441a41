"""A small, seeded fast simulation that turns stable generator particles into
particle-flow-like candidates.

The model (documented in docs/data.md):

* Acceptance |eta| < 5.  Neutrinos and invisible BSM particles (pdgId 51-53, 1000022,
  1000039 and the whole Hidden Valley range |pdgId| >= 4900000) leave nothing.
* Tracker, |eta| < 2.5: charged particles with pT above ``track_pt_min`` become tracks with
  a Gaussian pT resolution sigma/pT = a (+) b pT.  Charged hadrons are labelled +-211 and
  get the pion mass, electrons +-11 and muons +-13 keep theirs.  Transverse and
  longitudinal impact parameters (d0, dz, in cm) come from the production vertex, relative
  to the primary vertex, with a Gaussian resolution.
* Calorimeters: photons and electrons outside the tracker go into ECAL cells
  (|eta| < 3, 0.0174 x 0.0174), neutral hadrons and charged hadrons outside the tracker into
  HCAL cells (|eta| < 3, 0.087 x 0.087); everything but muons at 3 < |eta| < 5 into HF
  cells (0.175 x 0.175).  Deposits are summed per cell, the cell energy is smeared with a
  stochastic (+) constant term, cells below threshold are dropped, and each surviving cell
  becomes one massless candidate at the energy-weighted position of its deposits, labelled
  22 (ECAL), 130 (HCAL), 2 (HF electromagnetic) or 1 (HF hadronic) as in CMS PF.
* PUPPI-like weights: a track is weighted 1 when it is compatible with the primary vertex
  (|dz| < ``dz_pv_max``) and 0 otherwise.  A neutral candidate is weighted by the fraction of
  nearby (Delta R < 0.4) track pT that comes from the primary vertex (1 when there is no
  pile-up, or no track nearby).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["Candidates", "CellNoise", "DetectorConfig", "Particles", "keyed_normal", "simulate", "visible"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]

PION_MASS = 0.13957
ELECTRON_MASS = 0.000511
MUON_MASS = 0.10566
_INVISIBLE = np.array([12, 14, 16, 51, 52, 53, 1000022, 1000039])
#: Cell keys per event in :func:`_cells` (4 calorimeters x 2048 eta x 4096 phi bins).
_CELLS_PER_EVENT = 4 * 2048 * 4096
_M64 = np.uint64(0xFFFFFFFFFFFFFFFF)


@dataclass(frozen=True)
class DetectorConfig:
    """Parameters of the fast simulation (defaults are CMS-like)."""

    eta_max: float = 5.0
    tracker_eta_max: float = 2.5
    track_pt_min: float = 0.5
    track_res_const: float = 0.005
    track_res_slope: float = 1.0e-4
    d0_res_cm: float = 0.002
    dz_res_cm: float = 0.003
    dz_pv_max_cm: float = 0.3
    calo_eta_max: float = 3.0
    ecal_cell: float = 0.0174
    hcal_cell: float = 0.087
    hf_cell: float = 0.175
    ecal_stochastic: float = 0.03
    ecal_constant: float = 0.005
    hcal_stochastic: float = 1.0
    hcal_constant: float = 0.05
    hf_stochastic: float = 1.5
    hf_constant: float = 0.1
    ecal_threshold: float = 0.5
    hcal_threshold: float = 1.0
    hf_threshold: float = 2.0
    neutral_puppi_radius: float = 0.4


@dataclass(frozen=True)
class Particles:
    """Stable particles of a batch of events, flat, with their event index.

    Momenta in GeV, production vertices in mm (Pythia units).
    """

    event: I64
    px: F64
    py: F64
    pz: F64
    e: F64
    pdg: I64
    charge: F64
    vx: F64
    vy: F64
    vz: F64
    pileup: B


@dataclass(frozen=True)
class Candidates:
    """Particle-flow candidates, flat and sorted by event, with their event index."""

    event: I64
    pt: F64
    eta: F64
    phi: F64
    mass: F64
    charge: I64
    pdg: I64
    d0: F64
    dz: F64
    puppi: F64

    def take(self, index: I64) -> Candidates:
        """The candidates at ``index`` (a selection or reordering)."""
        return Candidates(**{k: getattr(self, k)[index] for k in self.__dataclass_fields__})


def visible(pdg: I64) -> B:
    """True for particles that can leave a signal in the detector."""
    apdg = np.abs(pdg)
    return ~np.isin(apdg, _INVISIBLE) & (apdg < 4_900_000)


def _wrap(phi: F64) -> F64:
    return (phi + np.pi) % (2.0 * np.pi) - np.pi


def _track_mass(apdg: I64) -> F64:
    return np.where(apdg == 11, ELECTRON_MASS, np.where(apdg == 13, MUON_MASS, PION_MASS))


def _track_pdg(pdg: I64, charge: F64) -> I64:
    apdg = np.abs(pdg)
    lepton = (apdg == 11) | (apdg == 13)
    # leptons keep their id (negative charge <-> positive pdgId); hadrons become +-211
    return np.where(lepton, pdg, np.where(charge > 0, 211, -211)).astype(np.int64)


def _cells(
    event: I64, eta: F64, phi: F64, energy: F64, calo: I64, size: F64
) -> tuple[I64, I64, F64, F64, F64, I64]:
    """Sum deposits per (event, calorimeter, cell).

    Returns the cell's event, calorimeter, energy-weighted eta and phi, summed energy, and
    its key (event, calorimeter, ieta, iphi packed into one integer, the event most
    significant: key // ``_CELLS_PER_EVENT`` is the event).
    """
    nphi = np.round(2.0 * np.pi / size).astype(np.int64)
    dphi = 2.0 * np.pi / nphi
    ieta = np.floor(eta / size).astype(np.int64) + 1000
    iphi = np.floor((phi + np.pi) / dphi).astype(np.int64) % nphi
    key = ((event * 4 + calo) * 2048 + ieta) * 4096 + iphi
    uniq, inverse = np.unique(key, return_inverse=True)
    e_sum = np.bincount(inverse, weights=energy).astype(np.float64)
    centre_phi = -np.pi + (iphi + 0.5) * dphi
    rel_phi = _wrap(phi - centre_phi)
    eta_c = np.bincount(inverse, weights=energy * eta) / e_sum
    phi_c = _wrap(np.bincount(inverse, weights=energy * (centre_phi + rel_phi)) / e_sum)
    cell_event = (uniq // _CELLS_PER_EVENT).astype(np.int64)
    cell_calo = ((uniq // (2048 * 4096)) % 4).astype(np.int64)
    return cell_event, cell_calo, eta_c.astype(np.float64), phi_c, e_sum, uniq


def _neutral_puppi(
    cand_event: I64, eta: F64, phi: F64, pt: F64, is_track: B, pv_track: B, radius: float
) -> F64:
    """Fraction of nearby track pT from the primary vertex, per neutral candidate.

    All events at once: candidates live on a cylinder (eta, phi periodic) with each event
    shifted far along eta, and a KD tree finds every (neutral, track) pair within
    ``radius``.
    """
    from scipy.spatial import cKDTree

    weights = np.ones(len(eta))
    neutral_idx = np.flatnonzero(~is_track)
    track_idx = np.flatnonzero(is_track)
    if len(neutral_idx) == 0 or len(track_idx) == 0:
        return weights
    stride = 20.0 + 4.0 * radius  # |eta| < 10 for candidates: events never come near each other
    n_ev = int(cand_event.max()) + 1

    def points(idx: I64) -> F64:
        x = np.clip(eta[idx], -10.0, 10.0) + 10.0 + stride * cand_event[idx]
        return np.stack([x, np.mod(phi[idx] + np.pi, 2.0 * np.pi)], axis=1)

    box = [stride * n_ev + stride, 2.0 * np.pi]
    neutrals = cKDTree(points(neutral_idx), boxsize=box)
    tracks = cKDTree(points(track_idx), boxsize=box)
    pairs = neutrals.sparse_distance_matrix(tracks, radius, output_type="ndarray")
    close = pairs["v"] < radius  # strictly inside, as deta^2 + dphi^2 < radius^2
    i, j = pairs["i"][close], pairs["j"][close]
    t_pt = pt[track_idx][j]
    all_pt = np.bincount(i, weights=t_pt, minlength=len(neutral_idx))
    pv_pt = np.bincount(i, weights=t_pt * pv_track[track_idx][j], minlength=len(neutral_idx))
    weights[neutral_idx] = np.where(all_pt > 0, pv_pt / np.maximum(all_pt, 1e-12), 1.0)
    return weights


def _splitmix64(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    with np.errstate(over="ignore"):
        x = (x + np.uint64(0x9E3779B97F4A7C15)) & _M64
        x = ((x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)) & _M64
        x = ((x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)) & _M64
    return np.asarray(x ^ (x >> np.uint64(31)), dtype=np.uint64)


def keyed_normal(keys: I64, seed: int) -> F64:
    """A standard normal number for each integer key, a pure function of (key, seed).

    Calorimeter noise is keyed by (event, cell), so a cell's smearing does not depend on
    which other cells exist: the same hard event smears the same way at any pile-up.
    """
    k = keys.astype(np.uint64) ^ _splitmix64(np.full(1, seed, dtype=np.uint64))
    a, b = _splitmix64(k), _splitmix64(k ^ np.uint64(0xD1B54A32D192ED03))
    u1 = ((a >> np.uint64(11)).astype(np.float64) + 0.5) / 2.0**53
    u2 = (b >> np.uint64(11)).astype(np.float64) / 2.0**53
    return np.asarray(np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2), dtype=np.float64)


@dataclass(frozen=True)
class _Tracks:
    """Reconstructed tracks: which particles, measured pT, impact parameters (cm)."""

    chosen: B
    pt: F64
    d0: F64
    dz: F64


def _normal(pileup: B, rng: np.random.Generator, pileup_rng: np.random.Generator | None) -> F64:
    """One standard normal per entry: hard-event entries from ``rng``, pile-up ones from
    ``pileup_rng`` (so the hard event's numbers do not depend on the pile-up), or every one
    from ``rng`` in order when there is no separate stream."""
    if pileup_rng is None:
        return rng.normal(size=len(pileup))
    out = np.empty(len(pileup))
    out[~pileup] = rng.normal(size=int((~pileup).sum()))
    out[pileup] = pileup_rng.normal(size=int(pileup.sum()))
    return out


def _tracks(p: Particles, pt: F64, ok: B, in_tracker: B, pv_z_mm: F64, rng: np.random.Generator,
            cfg: DetectorConfig, pileup_rng: np.random.Generator | None) -> _Tracks:
    """Tracks of the charged particles in the tracker: smeared pT, d0 and dz to the primary vertex."""
    trk = ok & (p.charge != 0) & in_tracker & (pt > cfg.track_pt_min)
    is_pu = p.pileup[trk]
    t_pt = pt[trk] * (1.0 + _normal(is_pu, rng, pileup_rng)
                      * np.hypot(cfg.track_res_const, cfg.track_res_slope * pt[trk]))
    vx, vy, vz = p.vx[trk], p.vy[trk], p.vz[trk]
    tpx, tpy, tpz = p.px[trk], p.py[trk], p.pz[trk]
    tpt = pt[trk]
    d0 = (vx * tpy - vy * tpx) / tpt / 10.0
    dz = (vz - (vx * tpx + vy * tpy) / tpt * tpz / tpt) / 10.0 - pv_z_mm[p.event[trk]] / 10.0
    d0 = d0 + _normal(is_pu, rng, pileup_rng) * cfg.d0_res_cm
    dz = dz + _normal(is_pu, rng, pileup_rng) * cfg.dz_res_cm
    return _Tracks(chosen=trk, pt=np.abs(t_pt), d0=d0, dz=dz)


@dataclass(frozen=True)
class CellNoise:
    """Keyed calorimeter noise: each cell's smearing is :func:`keyed_normal` of its key.

    Attributes:
        seed: the sample's seed.
        event_offset: the batch's first event number in the sample (keys are global).
    """

    seed: int
    event_offset: int = 0

    def normal(self, keys: I64) -> F64:
        return keyed_normal(keys + self.event_offset * _CELLS_PER_EVENT, self.seed)


def _calorimeter(p: Particles, eta: F64, phi: F64, ok: B, in_tracker: B, rng: np.random.Generator,
                 cfg: DetectorConfig, cell_noise: CellNoise | None) -> tuple[I64, F64, F64, F64, I64]:
    """Calorimeter cells above threshold: (event, eta, phi, energy, pdg id of the candidate)."""
    apdg = np.abs(p.pdg)
    em = (apdg == 22) | (apdg == 11)
    to_calo = ok & (apdg != 13) & ~((p.charge != 0) & in_tracker)
    central = np.abs(eta) < cfg.calo_eta_max
    calo = np.full(len(eta), -1, dtype=np.int64)
    calo[to_calo & central & em] = 0  # ECAL
    calo[to_calo & central & ~em] = 1  # HCAL
    calo[to_calo & ~central & em] = 2  # HF electromagnetic
    calo[to_calo & ~central & ~em] = 3  # HF hadronic
    dep = calo >= 0
    size = np.array([cfg.ecal_cell, cfg.hcal_cell, cfg.hf_cell, cfg.hf_cell])[calo[dep]]
    c_event, c_calo, c_eta, c_phi, c_e, keys = _cells(
        p.event[dep], eta[dep], phi[dep], p.e[dep], calo[dep], size)
    stoch = np.array([cfg.ecal_stochastic, cfg.hcal_stochastic, cfg.hf_stochastic, cfg.hf_stochastic])
    const = np.array([cfg.ecal_constant, cfg.hcal_constant, cfg.hf_constant, cfg.hf_constant])
    thresh = np.array([cfg.ecal_threshold, cfg.hcal_threshold, cfg.hf_threshold, cfg.hf_threshold])
    sigma = np.hypot(stoch[c_calo] / np.sqrt(c_e), const[c_calo])
    noise = rng.normal(size=len(c_e)) if cell_noise is None else cell_noise.normal(keys)
    c_e = c_e * (1.0 + noise * sigma)
    keep = c_e > thresh[c_calo]
    return c_event[keep], c_eta[keep], c_phi[keep], c_e[keep], np.array([22, 130, 2, 1])[c_calo[keep]]


def _merge(p: Particles, eta: F64, phi: F64, t: _Tracks,
           cells: tuple[npt.NDArray[np.int64], F64, F64, F64, npt.NDArray[np.int64]], cfg: DetectorConfig,
           with_pileup: bool) -> Candidates:
    """Tracks and calorimeter cells as one candidate list, sorted by event (PUPPI weights:
    charged from the vertex association, neutral from the local charged pile-up fraction)."""
    c_event, c_eta, c_phi, c_e, c_pdg = cells
    trk = t.chosen
    n_trk = int(trk.sum())
    zeros = np.zeros(len(c_e))
    event = np.concatenate([p.event[trk], c_event])
    out_dz = np.concatenate([t.dz, zeros])
    is_track = np.arange(len(event)) < n_trk
    pv_track = is_track & (np.abs(out_dz) < cfg.dz_pv_max_cm)
    order = np.argsort(event, kind="stable")
    cands = Candidates(
        event=event,
        pt=np.concatenate([t.pt, c_e / np.cosh(c_eta)]),
        eta=np.concatenate([eta[trk], c_eta]),
        phi=np.concatenate([phi[trk], c_phi]),
        mass=np.concatenate([_track_mass(np.abs(p.pdg[trk])), zeros]),
        charge=np.concatenate([np.sign(p.charge[trk]), zeros]).astype(np.int64),
        pdg=np.concatenate([_track_pdg(p.pdg[trk], p.charge[trk]), c_pdg]),
        d0=np.concatenate([t.d0, zeros]),
        dz=out_dz,
        puppi=np.where(is_track, pv_track.astype(np.float64), 1.0),
    ).take(order)
    if with_pileup:
        is_track, pv_track = is_track[order], pv_track[order]
        neutral_w = _neutral_puppi(
            cands.event, cands.eta, cands.phi, cands.pt, is_track, pv_track,
            cfg.neutral_puppi_radius,
        )
        cands = dataclasses.replace(cands, puppi=np.where(is_track, cands.puppi, neutral_w))
    return cands


def simulate(
    particles: Particles,
    pv_z_mm: F64,
    rng: np.random.Generator,
    cfg: DetectorConfig = DetectorConfig(),
    *,
    with_pileup: bool = False,
    pileup_rng: np.random.Generator | None = None,
    cell_noise: CellNoise | None = None,
) -> Candidates:
    """Detector response for one batch of events.

    Args:
        particles: stable particles (hard event and pile-up) of the batch.
        pv_z_mm: z of the primary vertex of each event, in mm.
        rng: the random generator of the hard event's detector response.
        cfg: detector parameters.
        with_pileup: compute neutral PUPPI weights from track-vertex association.
        pileup_rng: a separate stream for the pile-up particles' tracks (else ``rng``).
        cell_noise: keyed calorimeter noise (else drawn from ``rng``).  With both, the hard
            event's smearing is the same whatever the pile-up.

    Returns:
        The candidates of all events, sorted by event index.
    """
    p = particles
    pt = np.hypot(p.px, p.py)
    ok = visible(p.pdg) & (pt > 1e-6)
    eta = np.arcsinh(p.pz / np.where(pt > 0, pt, 1.0))
    phi = np.arctan2(p.py, p.px)
    ok &= np.abs(eta) < cfg.eta_max
    in_tracker = np.abs(eta) < cfg.tracker_eta_max
    t = _tracks(p, pt, ok, in_tracker, pv_z_mm, rng, cfg, pileup_rng)
    c_event, c_eta, c_phi, c_e, c_pdg = _calorimeter(p, eta, phi, ok, in_tracker, rng, cfg, cell_noise)

    return _merge(p, eta, phi, t, (c_event, c_eta, c_phi, c_e, c_pdg), cfg, with_pileup)
