//! Debug aid: freezes a SavedModel signature and prints the frozen graph's nodes.
//! Usage: cargo run --example freeze_dump -- DIR [SIGNATURE]

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let files = tf_native::DirFiles::new(&args[1]);
    let saved = tf_native::load::read_saved_model(&files)?;
    let meta = tf_native::signature::serving_meta_graph(&saved)?;
    let sig = tf_native::signature::pick(meta, args.get(2).map(|s| s.as_str()))?;
    let bundle = tf_native::bundle::Bundle::open(&files, "variables/variables")?;
    let frozen = tf_native::freeze::freeze(meta, &sig, Some(&bundle))?;
    for n in &frozen.graph.node {
        let mut attrs: Vec<_> = n.attr.keys().cloned().collect();
        attrs.sort();
        println!("{} = {}({}) {attrs:?}", n.name, n.op, n.input.join(", "));
    }
    println!("inputs {:?} outputs {:?}", frozen.inputs, frozen.outputs);
    Ok(())
}
