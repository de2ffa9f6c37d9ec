"""The peers: k-diffusion's samplers and diffusers' schedulers, run on scorelab denoisers side
by side (:mod:`.k_diffusion`, :mod:`.diffusers`); :mod:`scorelab.methods` builds both into
methods the same way. Users' own diffusers models as denoisers live in
:mod:`scorelab.models.diffusers`."""
