"""The service's rules of meaning, each owned in one place: how people write dates
(``dates``), money (``money``), the closed vocabularies of channels, territories, media and
verdicts (``vocabulary``), when two images are the same picture (``fingerprints``), and how
deeply JSON from outside may nest (``json_depth``)."""
