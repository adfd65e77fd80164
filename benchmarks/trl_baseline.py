"""The baseline of bench_finetune: a plain TRL `SFTTrainer` script, written the way the TRL docs
show it, on the same model, data, template, held-out rows and hyper-parameters as
`pretrained finetune`. Prints one JSON object (eval loss before/after, stop rate, steps).

Two settings differ from SFTConfig's defaults, both to match the `pretrained` run rather than to
slow the baseline down: gradient_checkpointing=False (SFTConfig turns it on; `pretrained` leaves it
off unless asked) and prediction_loss_only=True (without it `evaluate()` gathers every batch's
logits, which costs gigabytes; a careful user sets it).

    python benchmarks/trl_baseline.py --model DIR --data quotes.jsonl --max-steps 60
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import time

logging.getLogger("bitsandbytes").setLevel(logging.ERROR)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True, help="a transformers model folder")
    parser.add_argument("--data", required=True)
    parser.add_argument("--output-dir", required=True)
    parser.add_argument("--template", default="Quote by {author}: {text}")
    parser.add_argument("--prompt-template", default="Quote by {author}:")
    parser.add_argument("--max-steps", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--val-size", type=int, default=100)
    parser.add_argument("--num-samples", type=int, default=20)
    parser.add_argument("--sample-max-new-tokens", type=int, default=128)
    parser.add_argument("--lora-r", type=int, default=16)
    parser.add_argument("--lora-alpha", type=float, default=32)
    parser.add_argument("--lora-dropout", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    import torch
    from datasets import Dataset, load_dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    rows = load_dataset("json", data_files=args.data, split="train").to_list()
    # the same seeded held-out rows as pretrained's data.split
    order = list(range(len(rows)))
    random.Random(args.seed).shuffle(order)
    held = set(order[: args.val_size])
    val = [rows[i] for i in sorted(held)]
    train = [r for i, r in enumerate(rows) if i not in held]

    def render(r):
        return {"text": args.template.format(author=r["author"], text=r["text"])}

    train_ds = Dataset.from_list([render(r) for r in train])
    eval_ds = Dataset.from_list([render(r) for r in val])

    tokenizer = AutoTokenizer.from_pretrained(args.model)
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32)
    peft_config = LoraConfig(
        r=args.lora_r,
        lora_alpha=args.lora_alpha,
        lora_dropout=args.lora_dropout,
        target_modules=[
            "q_proj",
            "k_proj",
            "v_proj",
            "o_proj",
            "gate_proj",
            "up_proj",
            "down_proj",
        ],
        bias="none",
        task_type="CAUSAL_LM",
    )
    config = SFTConfig(
        output_dir=args.output_dir,
        max_steps=args.max_steps,
        per_device_train_batch_size=args.batch_size,
        per_device_eval_batch_size=args.batch_size,
        learning_rate=args.lr,
        lr_scheduler_type="linear",
        warmup_steps=0,
        seed=args.seed,
        max_length=args.max_length,
        gradient_checkpointing=False,
        prediction_loss_only=True,
        report_to="none",
        disable_tqdm=True,
        use_cpu=not torch.cuda.is_available(),
    )
    trainer = SFTTrainer(
        model=model,
        args=config,
        train_dataset=train_ds,
        eval_dataset=eval_ds,
        processing_class=tokenizer,
        peft_config=peft_config,
    )

    prompts = [args.prompt_template.format(author=r["author"]) for r in val[: args.num_samples]]

    def samples():
        model = trainer.model
        model.eval()
        tokenizer.padding_side = "left"
        enc = tokenizer(prompts, return_tensors="pt", padding=True).to(model.device)
        with torch.no_grad():
            out = model.generate(
                **enc,
                max_new_tokens=args.sample_max_new_tokens,
                do_sample=False,
                repetition_penalty=1.1,  # as pretrained's samples (its `generate` default)
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=tokenizer.eos_token_id,
            )
        new = out[:, enc["input_ids"].shape[1] :]
        stopped = [tokenizer.eos_token_id in row.tolist() for row in new]
        tokenizer.padding_side = "right"
        return sum(stopped) / len(stopped)

    start = time.perf_counter()
    before = trainer.evaluate()["eval_loss"]
    stop_before = samples()
    began = time.perf_counter()
    trainer.train()
    train_s = time.perf_counter() - began
    after = trainer.evaluate()["eval_loss"]
    stop_after = samples()
    trainer.save_model(f"{args.output_dir}/adapter")
    print(
        json.dumps(
            {
                "before": {"eval_loss": before, "stop_rate": stop_before},
                "after": {"eval_loss": after, "stop_rate": stop_after},
                "steps": trainer.state.global_step,
                "train_s": train_s,
                "seconds": time.perf_counter() - start,
            }
        )
    )


if __name__ == "__main__":
    main()
